"""Memory and task limits for one grading worker and everything it starts, with Linux control groups.

A worker runs one item at a time, so the limits of its group are the limits of the item running in it, counted
over *all* its processes and threads together: a cell that forks cannot multiply them (unlike ``RLIMIT_AS``,
which is per process). The memory limit is the worker's own use once it is ready plus ``extra_memory``; the
task limit is the worker's tasks plus ``extra_tasks``. A cell that goes over the memory limit is killed by the
kernel's OOM killer inside the group (the item's processes are marked as the first to go); a fork or a new
thread beyond the task limit fails with an error in the cell.

cgroup v2 is used where this process may create child groups with the ``memory`` and ``pids`` controllers
(e.g. as root in the root group, or in a delegated group); otherwise cgroup v1's ``memory`` and ``pids``
hierarchies (writable by root). Each group is created below this process's own group, so whatever limits the
machine already puts on the grader still apply, and it is removed when the worker stops.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "pids")


class CgroupError(RuntimeError):
    """No usable cgroup (the message says why and what to do)."""


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, filesystem type, options) of every cgroup filesystem."""
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                found.append((parts[1].replace("\\040", " "), parts[2], set(parts[3].split(","))))
    return found


def _own_groups() -> dict[str, str]:
    """This process's group per hierarchy: {"memory": "/a/b", ..., "": "/x"} ("" = the cgroup v2 hierarchy)."""
    groups: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in (controllers.split(",") if controllers else [""]):
                groups[name] = path
    return groups


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read_int(path: Path) -> int:
    text = path.read_text().strip()
    return 2**63 - 1 if text == "max" else int(text)


@dataclass(frozen=True)
class Layout:
    """Where new groups go: version 2 (one folder) or 1 (a folder per controller)."""

    version: int
    bases: dict[str, Path]   # controller -> parent folder of the new groups ("" for v2)


def _v2_layout() -> Layout | None:
    mounts = [m for m in _mounts() if m[1] == "cgroup2"]
    own = _own_groups().get("")
    if not mounts or own is None:
        return None
    base = Path(mounts[0][0] + own)
    try:
        enabled = set(base.joinpath("cgroup.subtree_control").read_text().split())
        missing = [c for c in CONTROLLERS if c not in enabled]
        if missing:  # only possible where no process sits in this group itself (e.g. the root group)
            available = set(base.joinpath("cgroup.controllers").read_text().split())
            if not set(missing) <= available:
                return None
            _write(base / "cgroup.subtree_control", " ".join("+" + c for c in missing))
    except OSError:
        return None
    return Layout(2, {"": base})


def _v1_layout() -> Layout | None:
    own = _own_groups()
    bases: dict[str, Path] = {}
    for controller in CONTROLLERS:
        mount = next((m[0] for m in _mounts() if m[1] == "cgroup" and controller in m[2]), None)
        if mount is None or controller not in own:
            return None
        bases[controller] = Path(mount + own[controller])
    return Layout(1, bases)


_LAYOUT: list[Layout | None] = []


def layout() -> Layout | None:
    """The cgroup layout this process can use (found once), or None."""
    if not _LAYOUT:
        found = None
        for candidate in (_v2_layout, _v1_layout):
            try:
                found = candidate()
            except (OSError, ValueError):
                found = None
            if found is not None and _can_create(found):
                break
            found = None
        _LAYOUT.append(found)
    return _LAYOUT[0]


def _can_create(lay: Layout) -> bool:
    probe = WorkerGroup.create(lay, f"course-grade-probe-{os.getpid()}", strict=False)
    if probe is None:
        return False
    probe.remove()
    return True


def problem() -> str | None:
    """None if per-worker limits can be set here, else a one-line reason."""
    if layout() is None:
        return ("no cgroup with the memory and pids controllers can be created by this user (cgroup v2 needs "
                "them delegated, e.g. `systemd-run --user --scope -p Delegate=yes ...`; cgroup v1 needs root)")
    return None


class WorkerGroup:
    """One group (per controller for v1) holding one worker sandbox and everything it starts."""

    def __init__(self, lay: Layout, dirs: dict[str, Path]) -> None:
        self.layout, self.dirs = lay, dirs

    @classmethod
    def create(cls, lay: Layout, name: str, strict: bool = True) -> WorkerGroup | None:
        """Make the group's folders; CgroupError (strict) or None if that is not allowed."""
        dirs = {c: base / name for c, base in lay.bases.items()}
        made = []
        try:
            for d in dirs.values():
                d.mkdir()
                made.append(d)
        except OSError as err:
            for d in made:
                d.rmdir()
            if strict:
                raise CgroupError(f"cannot create the cgroup {dirs} ({err.strerror or err})") from None
            return None
        return cls(lay, dirs)

    def _file(self, controller: str, v1_name: str, v2_name: str) -> Path:
        if self.layout.version == 2:
            return self.dirs[""] / v2_name
        return self.dirs[controller] / v1_name

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid into to join the group (one per hierarchy)."""
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def memory_used(self) -> int:
        return _read_int(self._file("memory", "memory.usage_in_bytes", "memory.current"))

    def tasks(self) -> int:
        return _read_int(self._file("pids", "pids.current", "pids.current"))

    def limit(self, extra_memory: int, extra_tasks: int) -> tuple[int, int]:
        """Cap the group at its current use plus the extras; returns (memory limit in bytes, task limit)."""
        memory = self.memory_used() + int(extra_memory)
        tasks = self.tasks() + int(extra_tasks)
        if self.layout.version == 2:
            _write(self.dirs[""] / "memory.max", str(memory))
            swap = self.dirs[""] / "memory.swap.max"
            if swap.exists():
                _write(swap, "0")
        else:
            _write(self.dirs["memory"] / "memory.limit_in_bytes", str(memory))
            swap = self.dirs["memory"] / "memory.memsw.limit_in_bytes"
            if swap.exists():  # memory + swap, so swapping out does not get around the limit
                _write(swap, str(memory))
        _write(self._file("pids", "pids.max", "pids.max"), str(tasks))
        return memory, tasks

    def remove(self, wait: float = 5.0) -> None:
        """Delete the group's folders once its processes are gone (waits up to ``wait`` seconds)."""
        deadline = time.monotonic() + wait
        for d in self.dirs.values():
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
