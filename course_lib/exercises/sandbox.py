"""The grader's side of running learner cells in separate processes (the worker side is ``worker.py``).

``Sandbox.run(exercise_id, source, seed)`` hands one exercise cell to a worker process and returns what its
disposable child observed. The verdict is *not* computed there: the grader judges these observations itself
(``core.judge``), from data alone, so replacing, monkeypatching or bypassing the checker inside the child cannot
produce a pass; at most it produces wrong observations.

Isolation against mistakes and casual tampering, not a security sandbox: the children run as the same user as
the grader. Grade untrusted submissions inside a container or as an unprivileged user.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core import Observation
from .wire import WireError, decode

DEFAULT_TIME_LIMIT = 20.0
DEFAULT_OUTPUT_LIMIT = 2000
STARTUP_TIMEOUT = 120.0   # importing torch in a new worker, on a busy machine
WORKER_GRACE = 30.0       # extra time the worker itself gets beyond an item's limit before it is replaced


@dataclass(frozen=True)
class Outcome:
    """What came back for one exercise cell.

    observations: one per test case, or None if the check never got to run the function.
    reason: why there are no observations (the cell raised, timed out, crashed, ...), else None.
    output: what the cell printed, truncated.
    seconds: wall time spent on the item.
    note: something worth telling that did not stop the check (e.g. the cell raised after defining the function).
    """

    observations: list[Observation] | None
    reason: str | None
    output: str
    seconds: float
    note: str | None = None


class WorkerStartError(RuntimeError):
    """A worker process could not start (a broken installation, not a submission's fault)."""


def _package_root() -> str:
    """The directory that holds ``course_lib``, so the worker imports the very same code as the grader."""
    return str(Path(__file__).resolve().parents[2])


class _Worker:
    """One ``python -I`` worker process, started on first use and replaced if it dies or hangs."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._cwd = tempfile.mkdtemp(prefix="course-grade-worker-")

    def _start(self) -> None:
        bootstrap = ("import sys; sys.path.insert(0, sys.argv[1]); "
                     "from course_lib.exercises.worker import serve; serve()")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", bootstrap, _package_root()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self._cwd,
            start_new_session=True,
        )
        self._buffer = b""
        line = self._read_line(time.monotonic() + STARTUP_TIMEOUT)
        if line != b"READY":
            self.close()
            raise WorkerStartError(f"the grading worker did not start (got {line!r}); is course_lib installed "
                                   f"for {sys.executable}?")

    def _read_line(self, deadline: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def request(self, req: dict[str, Any], time_limit: float) -> dict[str, Any] | None:
        """Send one request; the worker's reply, or None if the worker died or hung (it is then replaced)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(req).encode() + b"\n")
            self.proc.stdin.flush()
            line = self._read_line(time.monotonic() + time_limit + WORKER_GRACE)
        except OSError:
            line = None
        if line is None:
            self.close()
            return None
        try:
            reply = json.loads(line)
        except ValueError:
            self.close()
            return None
        return reply if isinstance(reply, dict) else None

    def close(self) -> None:
        """Stop the worker (closing its stdin ends its loop; kill it if it does not go)."""
        if self.proc is not None:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def remove(self) -> None:
        """Stop the worker and delete its working directory (with any item folder a killed child left)."""
        self.close()
        shutil.rmtree(self._cwd, ignore_errors=True)


class Sandbox:
    """A small pool of workers; ``run`` is thread-safe (each call borrows one worker).

    Use as a context manager, or call ``close()``, to stop the workers.
    """

    def __init__(self, workers: int = 1, time_limit: float = DEFAULT_TIME_LIMIT,
                 output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1; got {workers}")
        if not time_limit > 0:
            raise ValueError(f"time_limit must be > 0 seconds; got {time_limit}")
        self.time_limit, self.output_limit = float(time_limit), int(output_limit)
        self._idle = [_Worker() for _ in range(workers)]
        self._all = list(self._idle)
        self._available = threading.Semaphore(workers)
        self._lock = threading.Lock()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker."""
        for worker in self._all:
            worker.remove()

    def run(self, exercise_id: str, source: str, seed: int, time_limit: float | None = None) -> Outcome:
        """Run one exercise cell in a fresh child; never raises for anything the cell does.

        time_limit: seconds for this item (default: the sandbox's).
        """
        limit = self.time_limit if time_limit is None else float(time_limit)
        nonce = secrets.token_hex(16)
        req = {"exercise_id": exercise_id, "source": source, "seed": int(seed), "nonce": nonce,
               "time_limit": limit, "output_limit": self.output_limit}
        started = time.monotonic()
        self._available.acquire()
        with self._lock:
            worker = self._idle.pop()
        try:
            reply = worker.request(req, limit)
        finally:
            with self._lock:
                self._idle.append(worker)
            self._available.release()
        seconds = time.monotonic() - started
        if reply is None:
            return Outcome(None, "the grading worker stopped responding while running this cell (it was "
                                 "restarted); did the cell kill its parent process?", "", seconds)
        return _interpret(reply, nonce, limit, seconds)


def _interpret(reply: dict[str, Any], nonce: str, time_limit: float, seconds: float) -> Outcome:
    """Turn a worker's reply into an Outcome, trusting nothing that came from the child."""
    message, problem, status = reply.get("message"), reply.get("problem"), reply.get("status", "")
    if message is None:
        if problem == "timeout":
            reason = (f"time limit: the cell and its checks did not finish within {time_limit:g} s "
                      "(an endless loop, or a long computation at the top of the cell?)")
        elif problem == "eof":
            reason = (f"the grading process ended without a result ({status}): did the cell call os._exit(), "
                      "close file descriptors, run out of memory or crash the interpreter?")
        else:
            reason = f"no result from the grading process ({problem})"
        return Outcome(None, reason, "", seconds)
    try:
        data = decode(message)
    except WireError as err:
        return Outcome(None, f"the reply from the grading process was unusable ({err})", "", seconds)
    if not isinstance(data, dict) or data.get("nonce") != nonce:
        return Outcome(None, "the reply did not carry this item's nonce: the result channel was tampered with",
                       "", seconds)
    output = data.get("output") if isinstance(data.get("output"), str) else ""
    observations = data.get("observations")
    note = data.get("note") if isinstance(data.get("note"), str) else None
    if isinstance(observations, list):
        return Outcome(observations, None, output, seconds, note)
    reason = data.get("reason") if isinstance(data.get("reason"), str) else "no observations were returned"
    return Outcome(None, reason, output, seconds)
