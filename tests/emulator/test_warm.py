"""Jobs forked from the warm interpreter behave as jobs in a fresh one: same output, exit code
and environment, nothing carried from one job to the next (finmlops.emulator.aws.warm)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from finmlops.emulator.aws import warm

JOB = """
import os, sys
import numpy
print("argv", sys.argv[1:])
print("env", sorted(k for k in os.environ if k.startswith("JOB_")))
print("seen", getattr(numpy, "_left_by_an_earlier_job", None))
numpy._left_by_an_earlier_job = os.environ.get("JOB_NAME")
if os.environ.get("JOB_FAIL") == "raise":
    raise RuntimeError("the job failed")
if os.environ.get("JOB_FAIL") == "kill":
    os.kill(os.getpid(), 9)
sys.exit(int(os.environ.get("JOB_EXIT", "0")))
"""


@pytest.fixture(scope="module")
def zygote() -> Iterator[warm.WarmPython]:
    python = warm.WarmPython(sys.executable, preload=("numpy",))
    yield python
    python.close()


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "job.py"
    path.write_text(JOB)
    return path


def _cold(script: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, env=env, check=False
    )
    return done.returncode, done.stdout + done.stderr


def _warm(
    zygote: warm.WarmPython, script: Path, env: dict[str, str], *args: str
) -> tuple[int, str]:
    log = script.with_name(f"{env.get('JOB_NAME', 'job')}.log")
    code = zygote.run([sys.executable, str(script), *args], env, log)
    return code, log.read_text()


def test_a_warm_job_prints_and_exits_as_a_fresh_interpreter_does(
    zygote: warm.WarmPython, script: Path
) -> None:
    env = {"JOB_NAME": "a", "JOB_EXIT": "3", "PATH": "/usr/bin"}
    assert _warm(zygote, script, env, "--x", "1") == _cold(script, env, "--x", "1")
    assert _warm(zygote, script, env)[0] == 3


def test_a_job_sees_only_its_own_environment_and_no_earlier_jobs_state(
    zygote: warm.WarmPython, script: Path
) -> None:
    _warm(zygote, script, {"JOB_NAME": "first", "JOB_EXTRA": "1"})
    code, output = _warm(zygote, script, {"JOB_NAME": "second"})
    assert code == 0
    assert "env ['JOB_NAME']" in output  # not JOB_EXTRA, nor the zygote's own variables
    assert "seen None" in output  # the first job's change to a preloaded module is gone


def test_a_failing_job_gives_its_traceback_and_the_interpreters_exit_codes(
    zygote: warm.WarmPython, script: Path
) -> None:
    code, output = _warm(zygote, script, {"JOB_NAME": "raise", "JOB_FAIL": "raise"})
    assert code == 1
    assert "RuntimeError: the job failed" in output
    assert _warm(zygote, script, {"JOB_NAME": "kill", "JOB_FAIL": "kill"})[0] == -9


def test_a_module_runs_as_python_dash_m(zygote: warm.WarmPython, tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    code = zygote.run([sys.executable, "-m", "json.tool", "--help"], {}, log)
    assert code == 0
    assert "usage:" in log.read_text()


def test_jobs_run_at_once_from_several_threads(zygote: warm.WarmPython, script: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(
            pool.map(
                lambda i: _warm(zygote, script, {"JOB_NAME": f"t{i}", "JOB_EXIT": str(i)})[0],
                range(6),
            )
        )
    assert codes == list(range(6))


def test_the_switch_turns_the_warm_interpreter_off() -> None:
    assert warm.enabled({})
    assert not warm.enabled({warm.WARM_ENV: "0"})


def test_a_dead_zygote_is_an_error_and_the_shared_one_is_restarted(tmp_path: Path) -> None:
    python = warm.WarmPython(sys.executable, preload=())
    python._process.kill()
    python._process.wait()
    with pytest.raises(warm.WarmError, match="the warm interpreter exited"):
        python.run([sys.executable, "-c", "pass"], {}, tmp_path / "x.log")
    python.close()
    first = warm.shared()
    first._process.kill()
    first._process.wait()
    again = warm.shared()
    assert again is not first
    assert again.run([sys.executable, "-m", "json.tool", "--help"], {}, tmp_path / "m.log") == 0
