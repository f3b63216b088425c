"""Everything a grading run reads, read once, into memory, before any cell runs.

Submissions are read as bytes (regular files only: a folder, FIFO, device or symbolic-link loop becomes a row
with the reason, and reading never blocks); the templates are parsed into the items they owe; the quiz bank is
validated and copied to a private folder that marking uses, so nothing done during the run, on disk or by a
cell, can change what is graded or how.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..exercises.core import NOTEBOOKS
from ..quiz_bank import Question, default_quiz_dir, validate_bank_dir
from .notebooks import MAX_NOTEBOOK_BYTES, Expected, NotebookError, parse_cells, template_items

_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


@dataclass(frozen=True)
class Submission:
    """One submission as read: its name (the path given), its bytes, or why it could not be read."""

    name: str
    data: bytes | None
    problem: str | None = None


def collect_paths(args: Sequence[str]) -> list[Path]:
    """Paths as given, and every entry named ``*.ipynb`` inside any folder given (sorted; not only regular
    files, so that a folder, FIFO or broken link with that name gets a row with its reason)."""
    paths: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            paths += sorted(p / e.name for e in os.scandir(p) if e.name.endswith(".ipynb"))
        else:
            paths.append(p)
    return paths


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file (symbolic links followed); NotebookError with a reason for anything else.

    Opened non-blocking, so a FIFO cannot stall the run; the type is checked on the open file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotebookError("file not found") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise NotebookError("a symbolic link loop, not a notebook file") from None
        raise NotebookError(f"cannot read the file ({err.strerror or err})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            hint = ", not a notebook file" if stat.S_ISDIR(info.st_mode) else ""
            raise NotebookError(f"this is {kind}{hint}" if hint else f"this is {kind}, not a regular file")
        if info.st_size > limit:
            raise NotebookError(f"file too large for a notebook ({info.st_size} bytes; the limit is {limit})")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise NotebookError(f"file too large for a notebook (over {limit} bytes)")
        return b"".join(chunks)
    except OSError as err:
        raise NotebookError(f"cannot read the file ({err.strerror or err})") from None
    finally:
        os.close(fd)


def read_submission(path: Path) -> Submission:
    """Read one submission; never raises."""
    try:
        return Submission(str(path), read_regular_file(path, MAX_NOTEBOOK_BYTES))
    except NotebookError as err:
        return Submission(str(path), None, str(err))


def course_notebook_dir() -> Path:
    """The repository's notebooks/ folder (holds the shipped notebooks that serve as default templates)."""
    return Path(__file__).resolve().parents[2] / "notebooks"


def template_paths(explicit: dict[str, Path]) -> dict[str, Path]:
    """Notebook number -> the template used: --template if given, else the shipped notebook if it exists."""
    paths = {n: course_notebook_dir() / f"{name}.ipynb" for n, name in NOTEBOOKS.items()}
    paths = {n: p for n, p in paths.items() if p.is_file()}
    paths.update(explicit)
    return paths


def read_templates(paths: dict[str, Path]) -> dict[str, Expected | None]:
    """The items each template owes (None where a template cannot be read: the registry is used then)."""
    found: dict[str, Expected | None] = {}
    for number, path in paths.items():
        try:
            found[number] = template_items(parse_cells(read_regular_file(path, MAX_NOTEBOOK_BYTES)))
        except NotebookError:
            found[number] = None
    return found


def bank_files(quiz_dir: str | None) -> list[Path]:
    """The YAML files of the quiz bank in use."""
    directory = Path(quiz_dir) if quiz_dir is not None else default_quiz_dir()
    return sorted(directory.glob("*.yaml"))


def snapshot_bank(quiz_dir: str | None) -> tuple[str, dict[str, Question], str]:
    """Validate the bank and copy it to a private folder: (copy's folder, {id: Question}, original folder).

    The caller removes the copy (``shutil.rmtree``). Raises the bank's own error (BankError, OSError) for a
    bank that cannot be used.
    """
    source = Path(quiz_dir) if quiz_dir is not None else default_quiz_dir()
    if not source.is_dir():
        raise NotebookError(f"no quiz bank folder at {source}")
    copy = tempfile.mkdtemp(prefix="course-grade-bank-")
    try:
        for f in bank_files(str(source)):
            shutil.copyfile(f, Path(copy) / f.name)
        bank = validate_bank_dir(copy)
    except BaseException:
        shutil.rmtree(copy, ignore_errors=True)
        raise
    return copy, bank, str(source)
