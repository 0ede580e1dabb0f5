"""The public names the lifecycle demo and the pipeline import."""

from __future__ import annotations

import finmlops.monitoring as monitoring


def test_every_public_name_resolves() -> None:
    missing = [name for name in monitoring.__all__ if not hasattr(monitoring, name)]
    assert missing == []
    for name in ("build_baseline", "run_drift", "write_outputs", "compute_model_quality"):
        assert callable(getattr(monitoring, name))
