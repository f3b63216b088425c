"""The grader's command line, ``python -m course_lib.grade``, and ``grade_files`` (a whole batch).

Order of a run: check every option (usage errors exit 2 before anything is graded), read every submission,
the templates and the quiz bank into memory, start the sandboxed workers, grade, and only then write the
results (atomically, to regular files that no sandbox can see). Exit codes: 0 when every file was graded
(even with zero marks), 1 when the results could not be written, 2 for a usage error or a machine where no
sandbox can be made (unless ``--no-sandbox``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import stat
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import torch

from ..exercises.core import NOTEBOOKS
from ..exercises.timing import DEFAULT_TIME_LIMIT
from .confinement import visible_paths
from .inputs import (bank_files, collect_paths, read_submission, read_templates, snapshot_bank,
                     template_paths)
from .items import Options, SubmissionGrade, grade_submission
from .notebooks import FILE_NUMBER_RE
from .report import csv_text, number, to_json, write_atomically
from .sandbox import Sandbox, isolation_problem

MAX_SEED = 2**31 - 1
MAX_TIME_LIMIT = 3600.0
MAX_WORKERS = 64


def grade_files(paths: Sequence[Path], *, seed: int | None = None, workers: int = 2,
                time_limit: float = DEFAULT_TIME_LIMIT, quiz_dir: str | None = None, notebook: str | None = None,
                templates: dict[str, Path] | None = None, sandbox: Any | None = None,
                isolate: bool = True) -> tuple[list[SubmissionGrade], int]:
    """Grade every file, ``workers`` at a time; returns (grades in input order, the test-case seed).

    Every file, template and the bank are read before the first cell runs. sandbox: an open ``Sandbox`` to
    reuse (default: start one with ``workers`` processes, isolated unless ``isolate=False``).
    """
    torch.set_num_threads(1)  # the grader only judges small tensors; leave the cores to the workers
    seed = secrets.randbelow(MAX_SEED + 1) if seed is None else int(seed)
    submissions = [read_submission(Path(p)) for p in paths]
    expected = read_templates(template_paths(dict(templates or {})))
    bank_copy, bank, _ = snapshot_bank(quiz_dir)
    try:
        own = sandbox is None
        box = Sandbox(workers=max(1, min(workers, len(paths) or 1)), time_limit=time_limit,
                      isolate=isolate) if own else sandbox
        options = Options(seed, bank, bank_copy, notebook, expected, isolated=bool(getattr(box, "isolate", True)))
        try:
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                grades = list(pool.map(lambda s: grade_submission(s, box, options), submissions))
        finally:
            if own:
                box.close()
    finally:
        shutil.rmtree(bank_copy, ignore_errors=True)
    return grades, seed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_lib.grade",
        description="Grade saved course notebooks: each exercise cell runs in its own sandbox with a time "
                    "limit; quiz cells are read, never run. Submissions are never modified.")
    p.add_argument("submissions", nargs="+", help="notebook files, or folders of *.ipynb files")
    p.add_argument("--out", help="write the grades as CSV to this file, or '-' for standard output (the "
                                 "default, unless --json prints there)")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="also write full JSON results (with captured output) to PATH, or print them with no PATH")
    p.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT,
                   help=f"seconds per exercise, > 0 and <= {MAX_TIME_LIMIT:g} (default {DEFAULT_TIME_LIMIT:g})")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help=f"exercise cells run in parallel, 1 to {MAX_WORKERS} (default: 2, or 1 on one core)")
    p.add_argument("--seed", type=int, help=f"seed of the test cases, 0 to {MAX_SEED} (default: random, printed)")
    p.add_argument("--notebook", help="grade every file as this notebook (01 ... 07) instead of guessing")
    p.add_argument("--template", action="append", default=[], metavar="NOTEBOOK",
                   help="a notebook whose answer cells define what is graded (default: notebooks/NN_*.ipynb)")
    p.add_argument("--quiz-dir", help="the quiz bank folder, e.g. a private bank (default: quizzes/ or "
                                      "$COURSE_QUIZ_DIR)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run cells WITHOUT isolation where no sandbox can be made (trusted submissions only; "
                        "every row then says so)")
    return p


def _identity(path: Path) -> set[Any]:
    """What makes two paths the same file: the resolved path, and (device, inode) if it exists."""
    ids: set[Any] = {os.path.realpath(path)}
    try:
        info = os.stat(path)
        ids.add((info.st_dev, info.st_ino))
    except OSError:
        pass
    return ids


def _output_problem(option: str, value: str, protected: dict[str, set[Any]]) -> str | None:
    """Why ``value`` cannot receive results (None if it can)."""
    if value == "-":
        return None
    path = Path(value)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        return f"{option} {value!r} cannot be used ({err.strerror or err})"
    if mode is not None and not stat.S_ISREG(mode):
        return (f"{option} must be a regular file or '-' (standard output); {value!r} is a "
                f"{'symbolic link' if stat.S_ISLNK(mode) else 'folder' if stat.S_ISDIR(mode) else 'special file'}")
    if not path.parent.resolve().is_dir():
        return f"{option} {value!r}: the folder {str(path.parent)!r} does not exist; create it first"
    real = Path(os.path.realpath(path))
    for seen in visible_paths():
        if real == seen or seen in real.parents:
            return f"{option} {value!r} is inside {seen}, which the sandboxes can see; write results elsewhere"
    mine = _identity(path)
    for what, ids in protected.items():
        if mine & ids:
            return f"{option} {value!r} is also {what}; results must go to a file of their own"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (0 graded, 1 results not written, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 for --help
        return int(exc.code or 0)

    def usage(message: str) -> int:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2

    if not (math.isfinite(args.time_limit) and 0 < args.time_limit <= MAX_TIME_LIMIT):
        return usage(f"--time-limit must be a number of seconds > 0 and <= {MAX_TIME_LIMIT:g}; got {args.time_limit}")
    if not 1 <= args.workers <= MAX_WORKERS:
        return usage(f"--workers must be between 1 and {MAX_WORKERS}; got {args.workers}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        return usage(f"--seed must be an integer from 0 to {MAX_SEED}; got {args.seed}")
    if args.notebook is not None:
        args.notebook = args.notebook[:2]
        if args.notebook not in NOTEBOOKS:
            return usage(f"--notebook must be one of {', '.join(NOTEBOOKS)}; got {args.notebook!r}")
    templates: dict[str, Path] = {}
    for t in args.template:
        match = FILE_NUMBER_RE.match(Path(t).name)
        if not Path(t).is_file() or not match or match.group(1) not in NOTEBOOKS:
            return usage(f"--template must be an existing notebook named NN_*.ipynb; got {t!r}")
        templates[match.group(1)] = Path(t)
    try:
        paths = collect_paths(args.submissions)
    except OSError as err:
        return usage(f"cannot list a folder of submissions ({err})")
    if not paths:
        return usage("no notebooks to grade (the folders given hold no *.ipynb files)")
    out = args.out if args.out is not None else ("-" if args.json != "-" else None)
    if out == "-" and args.json == "-":
        return usage("--out and --json cannot both print to standard output; give one of them a file")
    protected = {"a submission": set().union(*(_identity(p) for p in paths)),
                 "a file of the quiz bank": set().union(set(), *(_identity(p) for p in bank_files(args.quiz_dir))),
                 "a template": set().union(set(), *(_identity(p) for p in template_paths(templates).values()))}
    for option, value in (("--out", out), ("--json", args.json)):
        if value is not None:
            problem = _output_problem(option, value, protected)
            if problem:
                return usage(problem)
    if out not in (None, "-") and args.json not in (None, "-") and _identity(Path(out)) & _identity(Path(args.json)):
        return usage("--out and --json name the same file; give each its own")
    try:
        snapshot_bank_dir, _, _ = snapshot_bank(args.quiz_dir)
        shutil.rmtree(snapshot_bank_dir, ignore_errors=True)
    except Exception as err:  # noqa: BLE001 - a broken bank is a setup problem, not a submission's
        return usage(f"cannot load the quiz bank: {err}")
    if not args.no_sandbox:
        problem = isolation_problem()
        if problem:
            return usage(f"cannot isolate the cells on this machine: {problem}. Fix that, or pass --no-sandbox "
                         "to grade WITHOUT isolation (trusted submissions only)")

    started = time.monotonic()
    grades, seed = grade_files(paths, seed=args.seed, workers=args.workers, time_limit=args.time_limit,
                               quiz_dir=args.quiz_dir, notebook=args.notebook, templates=templates,
                               isolate=not args.no_sandbox)
    elapsed = time.monotonic() - started
    outputs = [(out, csv_text(grades))] if out is not None else []
    if args.json is not None:
        outputs.append((args.json, json.dumps(to_json(grades, seed, not args.no_sandbox), indent=2) + "\n"))
    code = 0
    for target, text in outputs:
        try:
            if target == "-":
                sys.stdout.write(text)
            else:
                write_atomically(Path(target), text)
        except OSError as err:
            print(f"{parser.prog}: error: could not write {target}: {err}", file=sys.stderr)
            code = 1
    for g in grades:
        print(f"{number(g.total):>6} / {number(g.max_points):<6} {g.file}", file=sys.stderr)
    how = "" if not args.no_sandbox else " WITHOUT isolation (--no-sandbox)"
    print(f"graded {len(grades)} file(s){how} in {elapsed:.1f} s (test-case seed {seed})", file=sys.stderr)
    return code
