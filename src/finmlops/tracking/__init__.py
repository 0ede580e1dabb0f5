"""Experiment tracking (MLflow) for the build steps."""
