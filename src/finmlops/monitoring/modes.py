"""The drift run's modes, in a module of their own: the entry point's argument parser needs them
without importing the engine (window.py, with pandas and pyarrow)."""

from __future__ import annotations

from typing import Literal

Mode = Literal["exact", "binned"]
MODES: tuple[str, ...] = ("exact", "binned")
