"""Each item in its own Linux namespaces, entered from inside a worker's sandbox (runs in the worker only).

``start_item(body)`` forks a *keeper* that creates new user, mount, PID and IPC namespaces (``unshare(2)``,
called through the C library: Python 3.11 has no ``os.unshare``) and forks the item's *init* (PID 1 of the new
PID namespace), which

* starts a new session (so ``kill(0, ...)`` cannot reach the worker's process group);
* mounts an empty file system over ``/proc`` (the item sees no process, not even its worker), a private,
  size-limited ``tmpfs`` on ``/scratch`` (its working directory, ``HOME`` and ``TMPDIR``, gone with the item)
  and on ``/dev/shm``, and makes the worker's ``/tmp`` read-only (nothing an item leaves there can reach a
  later item);
* is made the OOM killer's first choice, drops every capability and sets ``no_new_privs``;
* runs ``body()``.

Everything the item starts lives in that PID namespace, so when its init ends, or is killed, the kernel kills
all of it: new sessions, process groups, double forks included. The keeper dies with the worker and the init
dies with the keeper (``PR_SET_PDEATHSIG``), so killing the keeper ends the item.
"""
from __future__ import annotations

import ctypes
import os
import select
import signal
import tempfile
from typing import Callable

from .confinement import SCRATCH

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 0x1, 0x2, 0x4, 0x8, 0x20, 0x1000
MS_REC, MS_PRIVATE = 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SCRATCH_SIZE = "64m"

_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(OSError):
    """A namespace operation failed (the grader reports the item as not run)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise NamespaceError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    """No capabilities left (not even in the item's own user namespace), and none to be gained by exec."""
    _check(_libc.capset(ctypes.byref(_CapHeader(LINUX_CAPABILITY_VERSION_3, 0)), (_CapData * 2)()), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _die_with_parent() -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")


def _enter_namespaces() -> None:
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _become_item_init(prepare: Callable[[], None]) -> None:
    """In the item's PID 1, before any learner code: private mounts, limits, no capabilities."""
    os.setsid()  # out of the worker's process group: kill(0, ...) must not reach the worker
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    with open("/proc/self/oom_score_adj", "w") as f:  # the OOM killer picks the item, not its worker
        f.write("1000")
    prepare()  # may still read /proc/self (resource limits)
    _mount("none", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
    _mount("none", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, f"size={SCRATCH_SIZE},mode=700")
    # the worker's /tmp: read-only from here on (the flags it was mounted with are kept, as the kernel requires)
    _mount(None, "/tmp", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    if os.path.isdir("/dev/shm"):
        _mount("none", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={SCRATCH_SIZE},mode=700")
    os.chdir(SCRATCH)
    os.environ["HOME"] = os.environ["TMPDIR"] = SCRATCH
    tempfile.tempdir = None  # the worker may have cached /tmp; temporary files now go to the scratch folder
    _drop_capabilities()


def start_item(prepare: Callable[[], None], body: Callable[[], None]) -> int:
    """Fork the keeper of a new item; returns its pid (kill it to end the item and everything it started).

    In the item's init, ``prepare()`` runs before ``/proc`` is hidden, then ``body()``, which must not return
    (it ends with ``os._exit``). Any setup failure ends the item with exit code 121.
    """
    worker = os.getpid()
    keeper = os.fork()
    if keeper:
        return keeper
    try:  # the keeper
        _die_with_parent()
        if os.getppid() != worker:
            os._exit(121)
        _enter_namespaces()
        alive_r, alive_w = os.pipe()
        init = os.fork()
        if init == 0:  # the item's PID 1
            os.close(alive_w)
            _die_with_parent()
            if select.select([alive_r], [], [], 0)[0]:  # EOF: the keeper is already gone
                os._exit(121)
            os.close(alive_r)
            _become_item_init(prepare)
            body()
            os._exit(0)
        os.close(alive_r)
        _, status = os.waitpid(init, 0)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:  # pass on the signal that ended the item
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code)
    except BaseException:  # noqa: BLE001 - the keeper must never return into the worker's loop
        os._exit(121)
