"""Builds SageMaker pipeline definitions (installed as finmlops_pipelines)."""
