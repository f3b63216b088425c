"""Debug-the-bug exercises: each ships buggy starter code, a reference, a checker and a worked solution.

In a notebook::

    from course_lib import exercises
    exercises.check("01.detach_critic", actor_loss)   # prints PASS or FAIL with a one-line hint
    exercises.solution("01.detach_critic")            # after at least one check in this kernel

``starter(id)`` returns the shipped cell source, ``list_exercises(notebook)`` the registered exercises.
The grader (``python -m course_lib.grade``) runs the same checks on saved notebooks, one process per answer.
"""
from __future__ import annotations

from typing import Any, Callable

from ..validation import check_positive
from . import nb01, nb02, nb03, nb04, nb05, nb06, nb07  # noqa: F401
from .core import NOTEBOOKS, CheckResult, Exercise, check_function
from .timing import DEFAULT_TIME_LIMIT, TimeLimitExceeded, time_limit

__all__ = [
    "CheckResult",
    "Exercise",
    "check",
    "solution",
    "starter",
    "list_exercises",
    "get_exercise",
    "REGISTRY",
    "DEFAULT_TIME_LIMIT",
]

REGISTRY: dict[str, Exercise] = {
    ex.id: ex for module in (nb01, nb02, nb03, nb04, nb05, nb06, nb07) for ex in module.EXERCISES
}

# Exercise ids checked at least once in this process: solution() is shown only after an attempt.
_attempted: set[str] = set()


def get_exercise(exercise_id: str) -> Exercise:
    """The registered exercise with this id; ValueError (listing the known ids) for an unknown one."""
    if not isinstance(exercise_id, str) or exercise_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"exercise_id must be one of: {known}; got {exercise_id!r}")
    return REGISTRY[exercise_id]


def list_exercises(notebook: str | None = None) -> list[Exercise]:
    """All exercises in notebook order, or those of one notebook ("01" or "01_actor_critic_basics")."""
    if notebook is None:
        return list(REGISTRY.values())
    key = str(notebook)[:2]
    if key not in NOTEBOOKS or str(notebook) not in (key, NOTEBOOKS[key]):
        allowed = ", ".join(f"{k} / {v}" for k, v in NOTEBOOKS.items())
        raise ValueError(f"notebook must be one of: {allowed}, or None; got {notebook!r}")
    return [ex for ex in REGISTRY.values() if ex.id[:2] == key]


def starter(exercise_id: str) -> str:
    """The starter cell source (imports + the buggy function) for the notebook's ``# EXERCISE:`` cell."""
    ex = get_exercise(exercise_id)
    return f"# EXERCISE: {ex.id}\n{ex.starter}"


def check(exercise_id: str, func: Callable[..., Any], *, seed: int | None = None,
          time_limit_s: float = DEFAULT_TIME_LIMIT, quiet: bool = False) -> CheckResult:
    """Check the learner's ``func`` against the exercise's reference on random and edge-case inputs.

    Prints "PASS — ..." or "FAIL — ... hint" (unless ``quiet``) and returns the CheckResult. Errors raised by
    ``func`` become a one-line message; a check running longer than ``time_limit_s`` seconds fails.
    """
    ex = get_exercise(exercise_id)
    time_limit_s = check_positive("time_limit_s", time_limit_s)
    _attempted.add(ex.id)
    if not callable(func):
        result = CheckResult(False, f"{ex.id}: pass the function itself, e.g. exercises.check({ex.id!r}, "
                                    f"{ex.func_name}); got a {type(func).__name__}", 0.0, ex.points)
    else:
        try:
            with time_limit(time_limit_s):
                result = check_function(ex, func, seed=seed)
        except TimeLimitExceeded:
            result = CheckResult(False, f"{ex.id}: the check took longer than {time_limit_s:g} s; look for a loop "
                                        "that never ends", 0.0, ex.points)
    if not quiet:
        print(result)
    return result


def solution(exercise_id: str) -> str | None:
    """Print the worked solution with its explanation, once ``check`` has been tried for this exercise.

    Returns the printed text (None, after a polite refusal, if there was no attempt yet).
    """
    ex = get_exercise(exercise_id)
    if ex.id not in _attempted:
        print(f"Try it first: run exercises.check({ex.id!r}, {ex.func_name}) at least once, "
              "then ask for the solution again.")
        return None
    text = f"Solution to {ex.id} — {ex.title}\n\n{ex.explanation}\n{ex.reference}"
    print(text)
    return text
