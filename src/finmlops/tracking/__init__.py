"""Experiment tracking (MLflow) for the model build.

- `settings`: the `tracking:` config section (`TrackingSettings`).
- `content`: what a run holds (params, metrics, tags) as pure functions of the step outputs.
- `runs`: logging a build, linking its run to the registered version, the UI command.
- `track_step`: the pipeline's Track step (`python -m finmlops.tracking.track_step`).
- `local`: tracking the local build (`make demo`).

Nothing is imported here: config.py imports `settings` at load, and MLflow is imported only
when a run is logged.
"""
