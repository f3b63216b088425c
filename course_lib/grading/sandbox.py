"""The grader's side of running learner cells: a pool of worker processes (the worker side is ``worker.py``).

``Sandbox.run(exercise_id, source, seed)`` hands one exercise cell to a worker and returns what the item
observed. The verdict is *not* computed there: the grader judges these observations itself (``core.judge``),
from data alone, so replacing, monkeypatching or bypassing the checker inside the item cannot produce a pass;
at most it produces wrong observations.

Isolated (the default), every worker runs in a bubblewrap sandbox (``confinement.py``) inside its own cgroup
(``cgroups.py``), and every item in its own namespaces (``namespaces.py``): an item sees no other submission,
no quiz bank, no template, no output path and no other process, writes only to its own scratch folder, and
everything it starts ends with it. ``Sandbox(isolate=False)`` (the grader's ``--no-sandbox``) runs items as
plain forks of an unconfined worker; it is only for machines where no sandbox can be made.

Every reply is bound to its request by a random nonce, echoed by the worker (and, separately, by the item);
a worker whose reply stream is out of step is replaced, so it can never shift later items' results.
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
from typing import Any

from ..exercises.core import Observation
from ..exercises.timing import DEFAULT_TIME_LIMIT
from . import cgroups, confinement
from .wire import WireError, decode

DEFAULT_OUTPUT_LIMIT = 2000
DEFAULT_EXTRA_MEMORY = 2 * 2**30   # what one item may add to its worker's memory, all its processes together
DEFAULT_EXTRA_TASKS = 64           # processes and threads one item may add to its worker's
STARTUP_TIMEOUT = 120.0   # importing torch in a new worker, on a busy machine
WORKER_GRACE = 30.0       # extra time the worker itself gets beyond an item's limit before it is replaced
# Joins the cgroup(s) named before "--", then runs the rest: no Python code runs between fork and exec.
_JOIN_AND_EXEC = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine (the message is a one-line reason)."""


def isolation_problem() -> str | None:
    """None if isolated workers can run here, else a one-line reason (bubblewrap, user namespaces, cgroups)."""
    return confinement.problem() or cgroups.problem()


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


class _Worker:
    """One ``python -I`` worker process, started on first use and replaced if it dies, hangs or is out of step."""

    def __init__(self, isolate: bool, extra_memory: int, extra_tasks: int) -> None:
        self.isolate, self.extra_memory, self.extra_tasks = isolate, extra_memory, extra_tasks
        self.proc: subprocess.Popen[bytes] | None = None
        self.group: cgroups.WorkerGroup | None = None
        self.limits: tuple[int, int] | None = None
        self._buffer = b""
        self._cwd = None if isolate else tempfile.mkdtemp(prefix="course-grade-worker-")

    def _start(self) -> None:
        self.close()  # a worker that died by itself: reap it and remove its cgroup first
        bootstrap = ("import sys; sys.path.insert(0, sys.argv[1]); "
                     "from course_lib.grading.worker import serve; serve()")
        command = [sys.executable, "-I", "-c", bootstrap, str(confinement.package_root())]
        if self.isolate:
            lay = cgroups.layout()
            if lay is None:
                raise SandboxUnavailable(cgroups.problem())
            self.group = cgroups.WorkerGroup.create(lay, f"course-grade-{os.getpid()}-{secrets.token_hex(4)}")
            command = ["/bin/sh", "-c", _JOIN_AND_EXEC, "sh", *self.group.procs_files, "--",
                       *confinement.bwrap_argv(command)]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=self._cwd or "/", start_new_session=True)
        self._buffer = b""
        line = self._read_line(time.monotonic() + STARTUP_TIMEOUT)
        if line != b"READY":
            self.close()
            raise WorkerStartError(f"the grading worker did not start (got {line!r}); is course_lib installed "
                                   f"for {sys.executable}?")
        if self.group is not None:
            self.limits = self.group.limit(self.extra_memory, self.extra_tasks)

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

    def request(self, req: dict[str, Any], time_limit: float) -> tuple[dict[str, Any] | None, str | None]:
        """Send one request: (the worker's reply, None), or (None, what went wrong; the worker is replaced)."""
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
            return None, "stopped"
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError):
            reply = None
        if not isinstance(reply, dict) or reply.get("nonce") != req["nonce"] or self._buffer:
            self.close()  # a reply that is not this request's, or more than one: never shift later items
            return None, "out of step"
        return reply, None

    def close(self) -> None:
        """Stop the worker (closing its stdin ends its loop; kill it if it does not go) and remove its cgroup."""
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
        if self.group is not None:
            self.group.remove()
            self.group = None

    def remove(self) -> None:
        """Stop the worker and delete its working directory (with any item folder a killed child left)."""
        self.close()
        if self._cwd is not None:
            shutil.rmtree(self._cwd, ignore_errors=True)


class Sandbox:
    """A small pool of workers; ``run`` is thread-safe (each call borrows one worker).

    Use as a context manager, or call ``close()``, to stop the workers.
    """

    def __init__(self, workers: int = 1, time_limit: float = DEFAULT_TIME_LIMIT,
                 output_limit: int = DEFAULT_OUTPUT_LIMIT, isolate: bool = True,
                 extra_memory: int = DEFAULT_EXTRA_MEMORY, extra_tasks: int = DEFAULT_EXTRA_TASKS) -> None:
        """isolate: run every item in its own sandbox (SandboxUnavailable, with the reason, if none can be made
        here); extra_memory / extra_tasks: an item's limits, all its processes together (isolated only)."""
        if workers < 1:
            raise ValueError(f"workers must be >= 1; got {workers}")
        if not 0 < time_limit < float("inf"):
            raise ValueError(f"time_limit must be a finite number of seconds > 0; got {time_limit}")
        if isolate:
            problem = isolation_problem()
            if problem:
                raise SandboxUnavailable(problem)
        self.time_limit, self.output_limit, self.isolate = float(time_limit), int(output_limit), bool(isolate)
        self._idle = [_Worker(self.isolate, extra_memory, extra_tasks) for _ in range(workers)]
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
               "time_limit": limit, "output_limit": self.output_limit, "isolated": self.isolate}
        started = time.monotonic()
        self._available.acquire()
        with self._lock:
            worker = self._idle.pop()
        try:
            reply, failure = worker.request(req, limit)
        finally:
            with self._lock:
                self._idle.append(worker)
            self._available.release()
        seconds = time.monotonic() - started
        if failure == "out of step":
            return Outcome(None, "the grading worker's reply was not this item's (its result stream was out of "
                                 "step, e.g. tampered with); the worker was replaced", "", seconds)
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
