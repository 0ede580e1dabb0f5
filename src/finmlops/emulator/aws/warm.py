"""Job processes forked from a warm interpreter: what a container's image gives SageMaker for free.

A SageMaker job starts a container whose image already holds its libraries; the emulator runs
each job instance as a local process, which pays the imports of pandas, scipy, scikit-learn and
xgboost every time (about 3 s of CPU on this project's 2-core machine, more than most jobs'
work). A `WarmPython` keeps one interpreter (the "zygote", `python -m finmlops.emulator.aws.warm`)
that has imported those libraries, and forks a child for each job. The child is still a process
of its own, as a container is:

- its environment is exactly the one the job is given (the zygote's is cleared first);
- it runs `python -m MODULE ARGS` or `python SCRIPT ARGS` as `runpy` does for the interpreter;
- its stdout and stderr go to the job's log; its exit code is the job's (a `SystemExit`'s code,
  1 for an uncaught exception, the signal's negative number if it is killed);
- nothing it changes reaches the next job, which forks from the zygote, not from it.

The project's own modules are not preloaded: they are the code under test and may read their
environment at import. `FINMLOPS_EMULATOR_WARM=0` runs every job in a fresh interpreter instead
(`subprocess`, as before); tests/emulator/test_warm.py runs the same jobs both ways.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

WARM_ENV = "FINMLOPS_EMULATOR_WARM"
# What the project's job images hold (docker/*/requirements): imported once, in the zygote.
PRELOAD: tuple[str, ...] = (
    "numpy",
    "pandas",
    "scipy.stats",
    "scipy.special",
    "sklearn.metrics",
    "xgboost",
    "pyarrow",
    "boto3",
    "botocore.session",
    "yaml",
    "pydantic",
    "jinja2",
)


class WarmError(RuntimeError):
    """The zygote is gone or refused a request."""


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(WARM_ENV, "1").strip() not in {"0", "false", "no"}


class WarmPython:
    """One zygote for `python`; `run` is safe to call from several threads at once."""

    def __init__(self, python: str = sys.executable, preload: Sequence[str] = PRELOAD) -> None:
        self.python = python
        environment = dict(os.environ) | {
            # One thread per library pool: forked children must not inherit a started pool.
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        # The zygote's own messages (an import warning, its crash) go to a file: a pipe nobody
        # reads until the end could fill and stop it.
        self._errors = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self._process = subprocess.Popen(
            [python, "-m", "finmlops.emulator.aws.warm", *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
            text=True,
            env=environment,
        )
        self._lock = threading.Lock()
        self._sequence = 0

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
    ) -> int:
        """Run `argv` (`python -m ...` or `python script ...`, argv[0] being the interpreter) in
        a child forked from the zygote; its output goes to `log`. Returns its exit code."""
        done = log.with_name(log.name + ".exit")
        done.unlink(missing_ok=True)
        request = {
            "argv": list(argv[1:]),
            "env": dict(env),
            "log": str(log),
            "done": str(done),
            "cwd": str(cwd or Path.cwd()),
        }
        stdin = self._process.stdin
        if stdin is None or self._process.poll() is not None:
            raise WarmError(f"the warm interpreter exited: {self._stderr()}")
        with self._lock:
            self._sequence += 1
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
        # The zygote writes the child's exit code when it reaps it (atomically: write, rename).
        while not done.exists():
            if self._process.poll() is not None:
                raise WarmError(f"the warm interpreter exited: {self._stderr()}")
            time.sleep(0.01)
        code = int(done.read_text())
        done.unlink()
        return code

    def _stderr(self) -> str:
        self._errors.seek(0)
        return self._errors.read()[-2000:] or "no message"

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                if self._process.stdin:
                    self._process.stdin.close()  # EOF: the zygote exits
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._errors.close()


_shared: dict[str, WarmPython] = {}
_shared_lock = threading.Lock()


def shared(python: str = sys.executable) -> WarmPython:
    """The process's zygote for `python`, started on first use, stopped at exit."""
    with _shared_lock:
        warm = _shared.get(python)
        if warm is None or warm._process.poll() is not None:
            warm = _shared[python] = WarmPython(python)
            atexit.register(warm.close)
        return warm


# --------------------------------------------------------------------------- the zygote


def _run_child(request: Mapping[str, Any]) -> int:
    """In the forked child: become the job, run it, return its exit code."""
    import runpy
    import traceback

    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the child's stdin for its lifetime
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    argv: list[str] = request["argv"]
    try:
        if argv[:1] == ["-m"]:
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:  # the interpreter prints an uncaught exception and exits 1
        traceback.print_exc()
        return 1
    return 0


def _write_exit(done: str, code: int) -> None:
    partial = Path(f"{done}.partial")
    partial.write_text(str(code), encoding="utf-8")
    partial.replace(done)


def _serve(stream: IO[str]) -> None:
    pending: dict[int, str] = {}

    def reap(_signum: int, _frame: Any) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            done = pending.pop(pid, None)
            if done is not None:
                _write_exit(done, os.waitstatus_to_exitcode(status))

    signal.signal(signal.SIGCHLD, reap)
    for line in stream:
        request = json.loads(line)
        # SIGCHLD is held until the child is registered, so a quick child is never reaped
        # before its exit file is known.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            code = 1
            try:
                code = _run_child(request)
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code & 0xFF if code >= 0 else 1)
        pending[pid] = request["done"]
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    # EOF: the emulator is gone; wait for the children still running.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for pid, done in list(pending.items()):
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(pid, 0)
            _write_exit(done, os.waitstatus_to_exitcode(status))


def main(preload: Sequence[str]) -> None:
    import importlib

    for module in preload:
        with contextlib.suppress(ImportError):  # an image without it: the job imports its own
            importlib.import_module(module)
    _serve(sys.stdin)


if __name__ == "__main__":
    main(sys.argv[1:])
