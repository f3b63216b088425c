"""Shared test set-up: small networks run fastest (and reproducibly) on one thread."""
import torch

torch.set_num_threads(1)

# Notebooks under tests/ are fixtures (grader inputs, the browser test's stand-in), read by tests, not
# notebooks to execute: keep nbval (`make test` passes --nbval-lax) from collecting them.
collect_ignore_glob = ["fixtures/**/*.ipynb", "fixtures/*.ipynb", "e2e/*.ipynb"]

# Course progress (course_lib.progress) is saved per user; no test, and no notebook that nbval or the browser
# test runs in a kernel started from here, may write the real user's file. Kernels and servers inherit this.
import atexit as _atexit
import os as _os
import shutil as _shutil
import tempfile as _tempfile

_PROGRESS_DIR = _tempfile.mkdtemp(prefix="course-progress-test-")
_atexit.register(_shutil.rmtree, _PROGRESS_DIR, True)
_os.environ["COURSE_PROGRESS_FILE"] = _os.path.join(_PROGRESS_DIR, "progress.json")
