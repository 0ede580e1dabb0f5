"""How long loading the config takes, and what the alias bomb of issue 14 costs now.

Prints, as medians of several runs: loading the shipped config (the baseline), and refusing the
same file with the classic nine-by-nine alias bomb appended (the shape the issue measured at 35 s
and 2 GB before the loader was bounded), with the bomb's peak Python allocation (tracemalloc).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from finmlops.config import ConfigError, default_config_path, load_config, load_portfolio

REPEATS = 5


def bomb(base: str) -> str:
    lines = ["x-bomb:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return base + "\n".join(lines) + "\n"


def refuse(path: Path) -> None:
    try:
        load_config(path)
    except ConfigError:
        return
    raise AssertionError("the bomb loaded")


def main() -> int:
    shipped = default_config_path(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.yaml"
        path.write_text(bomb(shipped.read_text()))
        load_portfolio(shipped)  # imports
        loads, refusals = [], []
        for _ in range(REPEATS):
            start = time.perf_counter()
            load_portfolio(shipped)
            loads.append(time.perf_counter() - start)
            start = time.perf_counter()
            refuse(path)
            refusals.append(time.perf_counter() - start)
        tracemalloc.start()
        refuse(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        size = path.stat().st_size
    load, refusal = statistics.median(loads), statistics.median(refusals)
    print(f"{REPEATS} repeats, medians")
    print(
        f"  baseline: load the shipped config ({shipped.stat().st_size} B)  {load * 1000:7.1f} ms"
    )
    print(
        f"  refuse it with the alias bomb ({size} B)        {refusal * 1000:7.1f} ms"
        f"  ({refusal / load:.1f}x baseline), peak {peak / 1e6:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
