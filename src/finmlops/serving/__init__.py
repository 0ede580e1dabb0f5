"""Serving code shipped into the SageMaker container: the inference script and its reasons document."""
