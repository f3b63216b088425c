"""The results of a run: a CSV row per submission and a JSON document with everything, written once at the end.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) are prefixed with ``'``. Files are written atomically: a temporary file next to the target,
then a rename, and only over a regular file.
"""
from __future__ import annotations

import csv
import io
import os
import stat
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from .items import SubmissionGrade

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def columns(grades: Sequence[SubmissionGrade]) -> list[str]:
    """Item keys ("exercise:01.detach_critic", "quiz:01.critic_role") over the whole batch, by notebook."""
    seen: dict[str, tuple[str, str, str]] = {}
    for g in grades:
        for item in g.items:
            seen.setdefault(item.key, (item.item_id[:2], item.kind, item.item_id))
    return sorted(seen, key=lambda k: seen[k])


def number(x: float) -> str:
    return f"{x:g}"


def safe_cell(text: str) -> str:
    """A text cell that no spreadsheet evaluates as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(grades: Sequence[SubmissionGrade]) -> str:
    """One row per submission: file, one column per item (blank if not part of that notebook), total, max,
    reasons."""
    ids = columns(grades)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["file", *ids, "total", "max", "reasons"])
    for g in grades:
        points = {item.key: number(item.points) for item in g.items}
        writer.writerow([safe_cell(g.file), *(points.get(i, "") for i in ids), number(g.total),
                         number(g.max_points), safe_cell(g.reasons())])
    return out.getvalue()


def to_json(grades: Sequence[SubmissionGrade], seed: int, isolated: bool = True) -> dict[str, Any]:
    """Everything, including each exercise cell's captured output, as JSON-ready data."""
    return {
        "seed": seed,
        "isolated": isolated,
        "submissions": [
            {"file": g.file, "total": g.total, "max": g.max_points, "reasons": g.reasons(), "notes": g.notes,
             "seconds": round(g.seconds, 3), "items": [asdict(item) for item in g.items]}
            for g in grades
        ],
    }


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` (absent or a regular file) with ``text`` in one rename; OSError otherwise."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise IsADirectoryError(f"{path} is not a regular file; results are only written to regular files")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
