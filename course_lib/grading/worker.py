"""Code that runs in the grader's worker processes, never in the grader itself.

A *worker* is a long-lived ``python -I`` process that imports torch and the exercises once, then serves requests
read as JSON lines on stdin. For each request it forks a disposable item that builds the test cases, runs the
learner's cell and probes the function, then sends its observations back through a private pipe as one
length-prefixed JSON message. The worker waits at most the time limit, ends the item and everything it started,
and answers the grader with one JSON line on stdout that echoes the request's nonce. No learner code ever runs
in the worker itself, so one item's monkeypatching, endless loop or crash cannot affect the next.

Isolated (the default): the worker itself runs in a bubblewrap sandbox (``confinement.py``) and each item in
its own namespaces with a private scratch folder (``namespaces.py``). Without isolation (``--no-sandbox``) the
item is a plain fork in its own session, with a scratch folder in the worker's temporary folder.
"""
from __future__ import annotations

import io
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from typing import Any

import numpy  # noqa: F401 - preloaded so that forked items start fast
import torch
import torch._dynamo  # noqa: F401 - imported lazily by the first optimizer step otherwise (~2 s)

from ..exercises import get_exercise
from ..exercises.cells import describe_exception, one_line, run_cell
from ..exercises.core import FAILURE, run_probe
from ..exercises.timing import DEFAULT_TIME_LIMIT
from . import namespaces
from .wire import encode

HEADER = struct.Struct(">Q")     # 8-byte big-endian length before the child's message
MAX_MESSAGE_BYTES = 32 * 2**20   # the child's reply
MAX_FILE_BYTES = 64 * 2**20      # any file the cell writes (RLIMIT_FSIZE)
MAX_EXTRA_MEMORY = 2 * 2**30     # address space a child may add to what the worker already maps (RLIMIT_AS)


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written to it and counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.dropped = limit, 0
        self._kept: list[str] = []
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: Any) -> int:
        text = str(text)
        room = max(self.limit - self._size, 0)
        if room:
            self._kept.append(text[:room])
            self._size += min(room, len(text))
        self.dropped += max(len(text) - room, 0)
        return len(text)

    def text(self) -> str:
        """What was kept, with a note of how much was dropped."""
        tail = f"\n[... {self.dropped} more characters of output not shown]" if self.dropped else ""
        return "".join(self._kept) + tail


# ------------------------------------------------------------------------------------------------- the child
def _limit_resources() -> None:
    """File size and memory limits for the child: an oversized write or allocation fails with an error.

    Per process; the limits of the item as a whole (all its processes) come from the worker's cgroup.
    """
    try:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write then fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    except (ValueError, OSError):
        pass
    try:
        with open("/proc/self/status") as f:
            mapped = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        limit = mapped + MAX_EXTRA_MEMORY
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError, StopIteration):
        pass


def _observe_cell(req: dict[str, Any]) -> dict[str, Any]:
    """Build the cases, run the cell, probe its function.

    Returns {"observations": [...], "note": str | None} or {"reason": "..."} when there is nothing to probe.
    """
    ex = get_exercise(req["exercise_id"])
    cases = ex.make_cases(int(req["seed"]))  # built before any learner code runs
    filename = f"<cell {ex.id}>"
    try:
        namespace, err = run_cell(req["source"], filename)
    except BaseException as exc:  # noqa: BLE001 - a SyntaxError the grader's parse missed, KeyboardInterrupt
        return {"reason": "the cell could not be run: " + describe_exception(exc, filename=filename)}
    func = namespace.get(ex.func_name)
    if err is None:
        problem = None
    elif isinstance(err, SystemExit):
        problem = f"the cell called sys.exit({err.code!r}) when run"
    else:
        problem = "the cell raised an error when run: " + describe_exception(err, filename=filename)
    if not callable(func):
        return {"reason": problem or f"the cell does not define a function called {ex.func_name}"}
    # The function exists: an error in later top-level lines (e.g. a test call that uses another cell's
    # variables) does not stop the grading of the function itself.
    note = None if problem is None else f"{problem}; the function {ex.func_name} was graded anyway"
    observations = []
    for case in cases:
        try:
            observations.append(run_probe(ex, func, case))
        except BaseException as exc:  # noqa: BLE001 - e.g. KeyboardInterrupt raised by the learner's code
            observations.append({FAILURE: f"{type(exc).__name__}: {one_line(str(exc))}"})
    return {"observations": observations, "note": note}


def _answer(fd: int, req: dict[str, Any]) -> None:
    """Run the item with its output captured and send the result through ``fd``; never returns."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(devnull, std)
    capture = CappedText(int(req.get("output_limit", 2000)))
    sys.stdout = sys.stderr = capture
    sys.stdin = io.StringIO("")
    try:
        result = _observe_cell(req)
    except BaseException as err:  # noqa: BLE001 - a reply must always be sent
        result = {"reason": f"the grader could not run this item ({type(err).__name__}: {err})"}
    result.update(nonce=req["nonce"], output=capture.text())
    try:
        message = encode(result).encode()
    except (TypeError, ValueError, RecursionError) as err:
        message = encode({"nonce": req["nonce"], "reason": f"unusable result ({err})"}).encode()
    try:
        os.write(fd, HEADER.pack(len(message)))
        view = memoryview(message)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os._exit(0)  # skip the learner's atexit handlers and lingering threads


def _start_plain(fd: int, req: dict[str, Any], workdir: str) -> int:
    """Without isolation: a fork in its own session (the worker kills the session when the item ends)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            _limit_resources()
            os.chdir(workdir)
            os.closerange(3, fd)
            os.closerange(fd + 1, 1 << 16)
        except BaseException:  # noqa: BLE001 - never return into the worker's loop
            os._exit(121)
        _answer(fd, req)
    return pid


def _start_isolated(fd: int, req: dict[str, Any]) -> int:
    """Isolated: the item in its own namespaces; returns the keeper's pid (killing it ends the item)."""
    def prepare() -> None:
        _limit_resources()
        os.closerange(3, fd)
        os.closerange(fd + 1, 1 << 16)

    return namespaces.start_item(prepare, lambda: _answer(fd, req))


# ------------------------------------------------------------------------------------------------ the worker
def _read_message(fd: int, deadline: float) -> tuple[bytes | None, str | None]:
    """Read one length-prefixed message before ``deadline``: (message, None) or (None, problem)."""
    buffer = b""
    expected: int | None = None
    while True:
        if expected is None and len(buffer) >= HEADER.size:
            expected = HEADER.unpack(buffer[:HEADER.size])[0]
            buffer = buffer[HEADER.size:]
            if expected > MAX_MESSAGE_BYTES:
                return None, f"the reply was too large ({expected} bytes)"
        if expected is not None and len(buffer) >= expected:
            return buffer[:expected], None
        left = deadline - time.monotonic()
        if left <= 0:
            return None, "timeout"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None, "timeout"
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None, "eof"
        buffer += chunk


def _end(pid: int, isolated: bool, wait_first: float) -> int:
    """End the item whose first process is ``pid`` and everything it started; returns its wait status.

    ``wait_first``: seconds to let it exit by itself first (so its own exit status can be reported).
    """
    deadline = time.monotonic() + wait_first
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.005)
    else:
        done = 0
    if not isolated:  # the whole session, including what is left after a normal exit
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    if done:
        return status
    try:
        os.kill(pid, signal.SIGKILL)  # isolated: the keeper; its death ends the item's PID namespace
    except OSError:
        pass
    return os.waitpid(pid, 0)[1]


def run_item(req: dict[str, Any]) -> dict[str, Any]:
    """Run one request in a new item; return {"message": str | None, "problem": str | None, "status": str}."""
    time_limit = float(req.get("time_limit", DEFAULT_TIME_LIMIT))
    isolated = bool(req.get("isolated", True))
    workdir = None if isolated else tempfile.mkdtemp(prefix="item-", dir=os.getcwd())
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    try:
        pid = _start_isolated(write_fd, req) if isolated else _start_plain(write_fd, req, workdir)
    finally:
        os.close(write_fd)
    try:
        message, problem = _read_message(read_fd, started + time_limit)
    finally:
        os.close(read_fd)
    status = _end(pid, isolated, wait_first=2.0 if problem == "eof" else 0.0)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    if os.WIFSIGNALED(status):
        how = f"killed by signal {os.WTERMSIG(status)}"
    else:
        how = f"exit code {os.WEXITSTATUS(status)}"
    return {
        "message": None if message is None else message.decode("utf-8", errors="replace"),
        "problem": problem,
        "status": how,
        "seconds": time.monotonic() - started,
    }


def serve() -> None:
    """The worker's main loop: one JSON request per stdin line, one JSON reply per stdout line."""
    torch.set_num_threads(1)
    x = torch.ones(8, 8, requires_grad=True)  # warm up (CPU detection, autograd) before any item is forked
    (x @ x).sum().backward()
    out = sys.stdout.buffer
    out.write(b"READY\n")
    out.flush()
    for line in sys.stdin.buffer:
        nonce = None
        try:
            req = json.loads(line)
            nonce = req.get("nonce")
            reply = run_item(req)
        except Exception as err:  # noqa: BLE001 - report and keep serving
            reply = {"message": None, "problem": f"worker error: {type(err).__name__}: {err}", "status": "",
                     "seconds": 0.0}
        reply["nonce"] = nonce  # binds the reply to its request
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve()
