"""finmlops: model risk-grade MLOps on SageMaker, as code."""

__version__ = "0.1.0"
