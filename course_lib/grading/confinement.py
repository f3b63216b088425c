"""The sandbox a grading worker runs in, built with bubblewrap (``bwrap``, Debian package ``bubblewrap``).

Each worker process is started by ``bwrap`` in new user, PID, network, IPC, UTS and cgroup namespaces, dies
with the grader (``--die-with-parent``), has no capabilities and no terminal (``--new-session``), and sees a
file system made of read-only binds of exactly what Python needs: the system's ``/usr`` (and ``/lib*``,
``/bin`` links), ``/etc/ld.so.cache``, the Python installation, the virtual environment and the ``course_lib``
package. Nothing else of the machine exists in there: no home folder, no repository (no quiz bank, no
notebooks, no templates), no submissions, no output paths, no network. Its root and ``/dev`` are read-only;
each item then gets its own namespaces and scratch folder inside (``namespaces.py``).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

# The worker's user and group id inside its sandbox. Not 0: an item maps its own root to this id, and mapping
# the parent namespace's root would need a capability (CAP_SETFCAP) that the worker does not have.
SANDBOX_ID = "1000"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache",)
# Each item's private scratch folder (an empty mount point here; namespaces.py mounts a fresh tmpfs on it per
# item). Not /tmp: the course or its virtual environment may live under /tmp, and must stay visible.
SCRATCH = "/scratch"


def package_root() -> Path:
    """The folder that holds ``course_lib`` (the worker imports the very same code as the grader)."""
    return Path(__file__).resolve().parents[2]


def visible_paths() -> list[Path]:
    """Host paths (besides the system folders) that a sandbox sees, read-only, at the same place."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent,
             package_root() / "course_lib"}
    return sorted(p for p in paths if p.exists())


def _system_binds() -> list[str]:
    args: list[str] = []
    for d in SYSTEM_DIRS:
        p = Path(d)
        if p.is_symlink():  # merged /usr: /bin -> usr/bin
            args += ["--symlink", str(p.readlink()), d]
        elif p.is_dir():
            args += ["--ro-bind", d, d]
    for f in SYSTEM_FILES:
        if Path(f).is_file():
            args += ["--ro-bind", f, f]
    return args


def bwrap_argv(command: list[str]) -> list[str]:
    """The ``bwrap`` command line that runs ``command`` (a worker) in its sandbox."""
    binds: list[str] = []
    for p in visible_paths():
        if not str(p).startswith(tuple(d + "/" for d in SYSTEM_DIRS)):
            binds += ["--ro-bind", str(p), str(p)]
    env: list[str] = []
    for key, value in ENV.items():
        env += ["--setenv", key, value]
    # Order matters: bwrap applies these in turn, so the worker's /tmp is mounted *before* the binds, and a
    # course or virtual environment that lives under /tmp (a CI clone, say) stays visible on top of it.
    return [shutil.which("bwrap") or "bwrap",
            "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--uid", SANDBOX_ID, "--gid", SANDBOX_ID, "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--clearenv", *env,
            *_system_binds(),
            "--dev", "/dev", "--proc", "/proc", "--size", str(64 * 2**20), "--tmpfs", "/tmp",
            *binds,
            "--dir", SCRATCH, "--chdir", "/tmp",
            "--remount-ro", "/dev", "--remount-ro", "/",
            "--", *command]


_PROBLEM: list[str | None] = []


def problem() -> str | None:
    """None if a worker sandbox can be made on this machine, else a one-line reason (checked once)."""
    if not _PROBLEM:
        _PROBLEM.append(_find_problem())
    return _PROBLEM[0]


def _find_problem() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"the grader's sandbox needs Linux namespaces; this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap (`bwrap`) is not installed; on Debian/Ubuntu: apt-get install bubblewrap"
    probe = [sys.executable, "-I", "-c", f"import os, sys; sys.exit(0 if os.getuid() == {SANDBOX_ID} else 3)"]
    try:
        proc = subprocess.run(bwrap_argv(probe), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap could not be run ({err})"
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"bubblewrap cannot make a sandbox here (user namespaces forbidden?): {detail}"
    return None
