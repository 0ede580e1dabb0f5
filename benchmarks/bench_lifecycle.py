"""Time per stage of the offline lifecycle (what `make demo` runs).

The baseline, measured in the same run, is the local model build (`finmlops.modelbuild.run_local`:
the same step code in this process, no emulator). The ratio of the pipeline build stage to it is
what the emulator costs on top of the work itself: S3 round trips to moto, a process per step,
and the steps the local build does not have (baseline, evidence, tracking).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from finmlops.config import default_config_path, load_config
from finmlops.emulator.aws.server import embedded_aws
from finmlops.emulator.story import Lifecycle, run_story
from finmlops.emulator.world.templates import synthesize
from finmlops.modelbuild import run_local

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    logging.getLogger("finmlops").setLevel(logging.WARNING)  # the handler logs JSON per event
    config = load_config(default_config_path(ROOT), "credit-risk")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        run_local(config, work / "local")
        baseline = time.perf_counter() - start

        start = time.perf_counter()
        cdk_out = synthesize(config, work / "cdk.out", ["tooling", "dev"])
        synth = time.perf_counter() - start
        dev = config.environments.dev
        with embedded_aws(dev.region, account=dev.account) as aws:
            lifecycle = Lifecycle(config, aws, work / "lifecycle")
            (work / "lifecycle").mkdir()
            start = time.perf_counter()
            summary = run_story(lifecycle, cdk_out)
            story = time.perf_counter() - start
            lifecycle.close()
    print(f"baseline: local model build (same step code, in process)   {baseline:6.2f} s")
    print(f"synthesize tooling and dev (CDK, no compliance packs)      {synth:6.2f} s")
    for stage in summary.stages:
        ratio = (
            f"  ({stage.seconds / baseline:5.1f}x baseline)"
            if stage.name.startswith("build")
            else ""
        )
        print(f"  {stage.name:<22} {stage.seconds:6.2f} s{ratio}")
    print(f"the story (after synth)                                    {story:6.2f} s")
    print(f"total, as make demo runs it                                {synth + story:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
