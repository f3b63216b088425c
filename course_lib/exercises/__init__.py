"""Debug-the-bug exercises: each ships buggy starter code, a reference, a checker and a worked solution.

In a notebook::

    from course_lib import exercises
    exercises.check("01.detach_critic", actor_loss)   # prints PASS, or FAIL with the symptom (never the fix)
    exercises.hint("01.detach_critic")                # the next level of the hint ladder: where to look ... the fix
    exercises.solution("01.detach_critic")            # after at least one check in this kernel

``hints_used()`` reports the hint levels revealed per exercise (kept in memory in ``hints.HINT_LEVELS`` and
saved by ``course_lib.progress``, so ``hint`` carries on from the saved level after a kernel restart).
``starter(id)`` returns the shipped cell source, ``list_exercises(notebook)`` the registered exercises.
The grader (``python -m course_lib.grade``) runs the same checks on saved notebooks, one process per answer.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping

from .. import progress as _progress
from ..validation import check_positive
from . import hints as _hints
from . import nb01, nb02, nb03, nb04, nb05, nb06, nb07  # noqa: F401
from .core import NOTEBOOKS, CheckResult, Exercise, check_function, wrap_verdict
from .hints import hints_used, solutions_shown
from .timing import DEFAULT_TIME_LIMIT, TimeLimitExceeded, time_limit

__all__ = [
    "CheckResult",
    "Exercise",
    "check",
    "hint",
    "hints_used",
    "restore_hints_used",
    "solution",
    "solutions_shown",
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

    Prints "PASS — ..." or "FAIL — <id>: <symptom>" (unless ``quiet``), wrapped to lines of at most 100
    characters, and returns the CheckResult; a FAIL ends with a line pointing to ``hint``. Errors raised by
    ``func`` become a one-sentence message; a check running longer than ``time_limit_s`` seconds fails.
    Warnings raised while the checker runs ``func`` on its own test cases are not shown (they would point
    into the checker's inputs, not the learner's).
    """
    ex = get_exercise(exercise_id)
    time_limit_s = check_positive("time_limit_s", time_limit_s)
    _attempted.add(ex.id)
    if not callable(func):
        result = CheckResult(False, f"{ex.id}: pass the function itself, e.g. exercises.check({ex.id!r}, "
                                    f"{ex.func_name}); got a {type(func).__name__}", 0.0, ex.points)
    else:
        try:
            with time_limit(time_limit_s), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = check_function(ex, func, seed=seed)
        except TimeLimitExceeded:
            result = CheckResult(False, f"{ex.id}: the check took longer than {time_limit_s:g} s; look for a loop "
                                        "that never ends", 0.0, ex.points)
        if not result.passed and ex.hints:
            result = CheckResult(False, result.message, result.points, result.max_points,
                                 next_step=f'(stuck? exercises.hint("{ex.id}"))')
    _progress.record_exercise(ex.id, result.passed)
    if not quiet:
        print(result)
    return result


def hint(exercise_id: str) -> None:
    """Show the next level of the exercise's hint ladder (once shown, the last level is shown again).

    The FAIL line of a check states only the symptom; the levels go from where to look to the fix itself.
    Returns None (the hint is displayed, as Markdown in a notebook); the level reached is recorded in memory
    (reported by ``hints_used()``) and in the progress store. After a kernel restart the ladder carries on
    from the level saved in the store, and the levels opened before are shown again above the new one.
    """
    ex = get_exercise(exercise_id)
    if not ex.hints:
        print("\n".join(wrap_verdict(f"{ex.id} has no hints; run exercises.check({ex.id!r}, {ex.func_name}) "
                                      "and read its message.")))
        return None
    saved = _saved_hint_level(ex.id)
    restored = saved > _hints.HINT_LEVELS.get(ex.id, 0)
    if restored:  # opened in an earlier session (e.g. before a kernel restart): carry on from there
        restore_hints_used({ex.id: saved})
    level, repeated = _hints.reveal_next(ex)
    _progress.record_hint(ex.id, level)
    markdown, plain = _hints.hint_text(ex, level, repeated)
    if restored and level > 1:
        recap_md, recap_plain = _hints.recap_text(ex, level - 1)
        markdown, plain = f"{recap_md}\n\n{markdown}", f"{recap_plain}\n{plain}"
    _hints.show(markdown, plain)
    return None


def _saved_hint_level(exercise_id: str) -> int:
    """The highest hint level of ``exercise_id`` in the progress store (0 if none, or if it is not a level)."""
    level = _progress.load()["hints"].get(exercise_id, 0)
    return level if isinstance(level, int) and not isinstance(level, bool) and level > 0 else 0


def restore_hints_used(levels: Mapping[str, int]) -> None:
    """Put back hint levels saved earlier (e.g. by a progress store): {exercise id: levels revealed}.

    Levels beyond an exercise's ladder are capped at its last level; a level already higher in this kernel is
    kept. Unknown ids or levels that are not whole numbers >= 0 raise ValueError before anything changes.
    """
    if not isinstance(levels, Mapping):
        raise ValueError(f"levels must be a mapping of exercise id to a level; got {type(levels).__name__}")
    cleaned: dict[str, int] = {}
    for exercise_id, level in levels.items():
        ex = get_exercise(exercise_id)
        if isinstance(level, bool) or not isinstance(level, int) or level < 0:
            raise ValueError(f"the hint level of {ex.id} must be a whole number >= 0; got {level!r}")
        cleaned[ex.id] = min(level, len(ex.hints))
    for exercise_id, level in cleaned.items():
        _hints.HINT_LEVELS[exercise_id] = max(level, _hints.HINT_LEVELS.get(exercise_id, 0))


def solution(exercise_id: str) -> None:
    """Show the worked solution with its explanation, once ``check`` has been tried for this exercise.

    Displayed once (Markdown in a notebook, plain text elsewhere); returns None, so a notebook does not echo
    it a second time. Before any attempt it says how to make one instead.
    """
    ex = get_exercise(exercise_id)
    if ex.id not in _attempted:
        print("\n".join(wrap_verdict(f"Try it first: run exercises.check({ex.id!r}, {ex.func_name}) at least once, "
                                      f'then ask for the solution again (exercises.hint("{ex.id}") gives a '
                                      "smaller nudge).")))
        return None
    _hints.SOLUTIONS_SHOWN.add(ex.id)
    _hints.show(*_hints.solution_text(ex))
    return None
