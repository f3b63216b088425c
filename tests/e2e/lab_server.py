"""Start and stop a private JupyterLab server for the browser tests.

The server is the course environment's own ``jupyter lab`` (the one next to the running Python), bound to
127.0.0.1 on a free port with a token chosen here, serving the repository root. Everything the server writes
(runtime files, settings, workspaces, trust database, checkpoints) goes to a fresh temporary folder, and the
lab settings turn autosave off, so a browser test never rewrites a committed notebook or adds files beside it.

``LabServer.stop()`` always leaves nothing running: it asks the server to shut down (which stops its kernels),
then terminates the process group it started, then kills any kernel still holding a connection file in the
private runtime folder (kernels run in their own session, so killing the server's group would miss them).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# Lab settings for a quiet, deterministic browser session: no autosave (committed notebooks stay untouched),
# every cell kept in the DOM (no virtual scrolling), no news or update checks (the network is closed).
LAB_SETTINGS: dict[str, dict] = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def jupyter_executable() -> Path:
    """The ``jupyter`` script of the environment running the tests (the course's .venv under ``make test``)."""
    return Path(sys.executable).parent / "jupyter"


@dataclass
class LabServer:
    """A running JupyterLab server. Create it with :func:`start_lab`; always call :meth:`stop`."""

    root: Path                      # the folder the server serves (notebook paths are relative to it)
    port: int
    token: str
    home: Path                      # private temporary folder: runtime, config, settings, workspaces, log
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict, repr=False)   # the server's environment
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``"""
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, path: str = "") -> str:
        """The URL that opens ``path`` (relative to ``root``) in JupyterLab, token included."""
        tree = f"/tree/{path}" if path else ""
        return f"{self.base_url}/lab{tree}?token={self.token}&reset"

    def api(self, route: str, method: str = "GET", timeout: float = 5.0) -> object:
        """Call the server's REST API (``route`` like ``/api/status``) and return the decoded JSON (or None)."""
        req = urllib.request.Request(
            f"{self.base_url}{route}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n_chars: int = 3000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return "(no server log)"

    def shutdown_kernels(self) -> int:
        """Shut down every kernel of this server (between tests, to free memory); return how many."""
        kernels = self.api("/api/kernels") or []
        for kernel in kernels:
            try:
                self.api(f"/api/kernels/{kernel['id']}", method="DELETE", timeout=30)
            except urllib.error.HTTPError as err:
                if err.code != 404:  # already gone is fine
                    raise
        return len(kernels)

    def trust(self, notebook: Path) -> None:
        """Trust ``notebook`` in this server's private trust database, as the "Trust Notebook" command does.

        JupyterLab renders widget outputs (an "unsafe" MIME type) of a saved notebook only once it is trusted;
        an untrusted notebook shows their text or Markdown fallback. The file itself is not changed: the
        signature goes to the database in the server's data folder (``JUPYTER_DATA_DIR``), where the
        server's notary looks it up the next time the notebook is opened.
        """
        import nbformat
        from nbformat.sign import NotebookNotary

        notary = NotebookNotary(data_dir=self.env["JUPYTER_DATA_DIR"])
        notary.sign(nbformat.read(str(notebook), as_version=4))

    def leftover_pids(self) -> list[int]:
        """PIDs of live processes started by this server: its own group, or a kernel using its runtime folder."""
        mark = str(self.home).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended while we looked
            if state[0] == "Z":
                continue  # a zombie is already dead
            pgid = int(state[2])
            if pid == self.process.pid or pgid == self.process.pid or mark in cmdline:
                found.append(pid)
        return found

    def stop(self, grace: float = 15.0) -> None:
        """Shut the server and its kernels down; escalate to SIGTERM/SIGKILL. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            try:
                self.api("/api/shutdown", method="POST")
            except (OSError, urllib.error.URLError):
                pass  # not answering: the signals below will do
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=5)
        # kernels live in their own sessions: end any that outlived the server, one PID at a time
        deadline = time.monotonic() + 10
        while (pids := self.leftover_pids()) and time.monotonic() < deadline:
            for pid in pids:
                _signal_pid(pid, signal.SIGTERM if time.monotonic() < deadline - 5 else signal.SIGKILL)
            time.sleep(0.5)
        shutil.rmtree(self.home, ignore_errors=True)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM when the test process dies, even by SIGKILL."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: stop() and the kernels' own parent check still apply


def start_lab(root: Path, timeout: float = 90.0, extra_env: dict[str, str] | None = None) -> LabServer:
    """Start ``jupyter lab`` serving ``root`` on a free loopback port and wait until its API answers.

    Raises RuntimeError (with the server log) if it has not answered within ``timeout`` seconds; the
    half-started server is stopped first.
    """
    home = Path(tempfile.mkdtemp(prefix="course-e2e-lab-"))
    settings_dir = home / "settings"
    for name, values in LAB_SETTINGS.items():
        target = settings_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    for sub in ("runtime", "config", "data", "workspaces", "ipython"):
        (home / sub).mkdir()
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
        # the kernel shares two cores with the browser and the server: keep its maths on one thread
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra_env or {})
    token = secrets.token_hex(16)
    port = free_port()
    cmd = [
        str(jupyter_executable()), "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        # Lab checkpoints a notebook when it opens it; keep those copies out of the repository
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI runs as root; Jupyter refuses root without it
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so stop() can signal the whole group
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    server = LabServer(root=root, port=port, token=token, home=home, process=process, log_path=log_path, env=env)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"jupyter lab exited with code {process.returncode} while starting:\n{tail}")
        try:
            server.api("/api/status", timeout=2)
            return server
        except (OSError, urllib.error.URLError, ValueError):
            pass
        if time.monotonic() > deadline:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{tail}")
        time.sleep(0.3)
