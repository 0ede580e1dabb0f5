"""`python -m finmlops.monitoring`: the monitoring container's entry point (entrypoint.py)."""

import signal
import sys

from finmlops.monitoring.entrypoint import main

# SageMaker stops a job with SIGTERM: as SystemExit it unwinds main(), whose exit stack removes
# the run's temporary folders (Python's default for SIGTERM ends the process without cleanup).
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

raise SystemExit(main())
