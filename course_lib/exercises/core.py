"""What a debug-the-bug exercise is made of, and the check that compares a learner's function to its reference.

A check has two halves so the grader can split them across processes:

* **observe** runs a function (the learner's or the reference) on each test case through the exercise's
  ``probe`` and records plain data: output values, gradients, sample statistics (an ``Observation``).
  This is the only place the learner's code runs.
* **judge** compares the learner's observations with the reference's, case by case, and turns the first
  difference into a one-line hint. It never calls the learner's code, so in the grader it runs in the parent
  process, where nothing the learner's cell did can reach it.

Both halves rebuild the same cases from an integer ``seed`` with ``make_cases(seed)``.
"""
from __future__ import annotations

import functools
import secrets
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable

from .cells import describe_exception, exec_cell

# An observation is plain data: bool, int, float, str, None, torch.Tensor, or lists / str-keyed dicts of these.
Observation = dict[str, Any]
# The key an observation carries instead of data when the function raised or returned something unusable.
FAILURE = "__failure__"

NOTEBOOKS: dict[str, str] = {
    "01": "01_actor_critic_basics",
    "02": "02_beyond_q_learning",
    "03": "03_baselines_and_advantage",
    "04": "04_clipped_surrogate",
    "05": "05_trust_regions",
    "06": "06_normalisation",
    "07": "07_ppo_end_to_end",
}


# Printed verdicts are wrapped to lines of at most WIDTH characters; continuation lines start with INDENT.
WIDTH = 100
INDENT = "    "


def wrap_verdict(text: str, width: int = WIDTH, indent: str = INDENT) -> list[str]:
    """``text`` as lines of at most ``width`` characters, every line after the first indented by ``indent``.

    Breaks only at spaces (a word longer than a line is cut), never at hyphens: "-1.919" stays whole.
    """
    return textwrap.wrap(" ".join(text.split()), width=width, subsequent_indent=indent,
                         break_on_hyphens=False) or [""]


class CheckFailure(Exception):
    """Raised by a probe when the learner's output cannot be used (wrong type or shape); the text is the hint."""


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one exercise.

    passed: True when every case agreed with the reference.
    message: one line: what was checked, or the first difference found (the symptom, never the fix).
    points: points earned (``max_points`` if passed, else 0).
    max_points: points available for the exercise.
    next_step: what to do next, printed on a last line of its own (``exercises.check`` puts the pointer to
        ``exercises.hint`` here after a FAIL); not part of ``message``, which the grader reports.
    """

    passed: bool
    message: str
    points: float
    max_points: float
    next_step: str = ""

    def __str__(self) -> str:
        """The printed verdict: "PASS — ..." or "FAIL — <id>: <symptom>" wrapped to lines of at most
        ``WIDTH`` characters (continuation lines indented), then ``next_step`` on an indented line of its own."""
        lines = wrap_verdict(("PASS" if self.passed else "FAIL") + " — " + self.message)
        if self.next_step:
            lines += [INDENT + line for line in wrap_verdict(self.next_step, WIDTH - len(INDENT), INDENT)]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """Short display in Jupyter when a check cell ends with the call (check() already printed the message)."""
        verdict = "PASS" if self.passed else "FAIL"
        printer.text(f"<CheckResult {verdict}: {self.points:g}/{self.max_points:g} points>")


@dataclass(frozen=True)
class Case:
    """One test input of an exercise: a short name shown in hints and the data the probe needs."""

    name: str
    data: Any


@dataclass(frozen=True)
class WrongFix:
    """A plausible but wrong fix (a complete cell), kept so the tests can prove the checker rejects it."""

    source: str
    why: str


@dataclass(frozen=True)
class Exercise:
    """A debug-the-bug exercise.

    id: "NN.slug", e.g. "01.detach_critic" (NN = notebook number).
    title: a short title for listings.
    func_name: the name of the function the learner fixes (the cell defines it).
    starter: the shipped cell source (imports + the buggy function).
    reference: a cell source with the correct function (shown by ``solution``).
    explanation: why the starter is wrong and what the fix does (shown with the solution).
    make_cases: seed -> list of Case (deterministic for a given seed).
    probe: (function, case) -> Observation; runs the function and records what the judge needs.
    judge: (learner observation, reference observation, case) -> None if they agree, else a one-line hint.
    wrong_fixes: plausible wrong fixes that the checker must reject (tested).
    alternatives: other correct cells (a different but valid fix) that the checker must accept (tested).
    points: points for a pass.
    hints: the hint ladder after a FAIL (which states only the symptom), revealed one level at a time by
        ``exercises.hint``: first where to look, then the idea, the last level names the fix (tested).
    """

    id: str
    title: str
    func_name: str
    starter: str
    reference: str
    explanation: str
    make_cases: Callable[[int], list[Case]]
    probe: Callable[[Callable[..., Any], Case], Observation]
    judge: Callable[[Observation, Observation, Case], str | None]
    wrong_fixes: tuple[WrongFix, ...] = field(default_factory=tuple)
    alternatives: tuple[str, ...] = field(default_factory=tuple)
    points: float = 1.0
    hints: tuple[str, ...] = field(default_factory=tuple)

    @property
    def notebook(self) -> str:
        """The notebook's file name without extension, e.g. "01_actor_critic_basics"."""
        return NOTEBOOKS[self.id[:2]]

    @functools.cached_property
    def reference_function(self) -> Callable[..., Any]:
        """The reference implementation, compiled from ``reference``."""
        return exec_cell(self.reference, self.func_name, filename=f"<reference {self.id}>")


def new_seed() -> int:
    """A fresh random seed for one check (cases differ from attempt to attempt)."""
    return secrets.randbelow(2**31)


def run_probe(ex: Exercise, func: Callable[..., Any], case: Case) -> Observation:
    """Run ``ex.probe(func, case)``; a learner's exception becomes ``{FAILURE: one-line message}``."""
    try:
        obs = ex.probe(func, case)
    except CheckFailure as err:
        return {FAILURE: str(err)}
    except SystemExit as err:
        return {FAILURE: f"your function called sys.exit({err.code!r}); return a value instead"}
    except Exception as err:  # noqa: BLE001 - any learner error becomes a hint, never a traceback
        return {FAILURE: describe_exception(err, func)}
    if not isinstance(obs, dict):
        raise TypeError(f"probe of {ex.id} returned {type(obs).__name__}, not a dict")
    return obs


def observe(ex: Exercise, func: Callable[..., Any], seed: int) -> list[Observation]:
    """Observations of ``func`` on every case of ``ex`` built from ``seed`` (runs ``func``)."""
    return [run_probe(ex, func, case) for case in ex.make_cases(seed)]


@functools.lru_cache(maxsize=256)
def reference_observations(exercise_id: str, seed: int) -> tuple[Observation, ...]:
    """The reference's observations for (exercise, seed), computed once and cached (judges never mutate them)."""
    from . import get_exercise  # late import: the registry imports this module

    ex = get_exercise(exercise_id)
    obs = observe(ex, ex.reference_function, seed)
    for case, o in zip(ex.make_cases(seed), obs):
        if FAILURE in o:
            raise RuntimeError(f"reference of {exercise_id} failed on case {case.name!r}: {o[FAILURE]}")
    return tuple(obs)


def judge(ex: Exercise, seed: int, got: list[Observation]) -> CheckResult:
    """Compare the learner's observations (from ``observe(ex, func, seed)``) with the reference's."""
    cases = ex.make_cases(seed)
    want = reference_observations(ex.id, seed)

    def fail(text: str) -> CheckResult:
        return CheckResult(False, f"{ex.id}: {text}", 0.0, ex.points)

    if not isinstance(got, list) or len(got) != len(cases):
        return fail("the check did not produce a result for every test case")
    for case, g, w in zip(cases, got, want):
        if not isinstance(g, dict):
            return fail(f"case '{case.name}': malformed result")
        if FAILURE in g:
            return fail(f"case '{case.name}': {g[FAILURE]}")
        try:
            hint = ex.judge(g, w, case)
        except Exception as err:  # noqa: BLE001 - malformed data from the learner's side
            hint = f"your function's output could not be compared with the reference ({type(err).__name__}: {err})"
        if hint:
            return fail(f"case '{case.name}': {hint}")
    return CheckResult(True, f"{ex.id}: agrees with the reference on all {len(cases)} test cases", ex.points, ex.points)


def check_function(ex: Exercise, func: Callable[..., Any], seed: int | None = None) -> CheckResult:
    """Observe ``func`` and judge it, in this process (what ``exercises.check`` does in a notebook)."""
    seed = new_seed() if seed is None else seed
    return judge(ex, seed, observe(ex, func, seed))
