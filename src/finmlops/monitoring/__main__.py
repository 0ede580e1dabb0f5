"""`python -m finmlops.monitoring`: the monitoring container's entry point (entrypoint.py)."""

from finmlops.monitoring.entrypoint import main

raise SystemExit(main())
