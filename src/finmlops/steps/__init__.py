"""Step code that runs inside SageMaker jobs and locally: pure functions plus a thin main(argv)."""
