"""A wall-clock time limit for in-notebook checks (SIGALRM; only possible in the main thread on Unix)."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

# Seconds allowed for one exercise check (all its test cases together): in a notebook (``exercises.check``) and
# per item in the grader (``python -m course_lib.grade --time-limit``). The one place this default is defined.
DEFAULT_TIME_LIMIT = 20.0


class TimeLimitExceeded(BaseException):
    """Raised inside the checked code when its time is up (BaseException: ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimitExceeded in the block after ``seconds``; no limit where SIGALRM cannot be used."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and seconds > 0)
    if not usable:
        yield
        return

    def _expire(signum, frame):  # noqa: ARG001 - signal handler signature
        raise TimeLimitExceeded(f"time limit of {seconds:g} s exceeded")

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
