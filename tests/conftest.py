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


# ------------------------------------------------------------------ shared by the grader tests
import importlib.util as _importlib_util  # noqa: E402
import sys  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

import pytest as _pytest  # noqa: E402

_spec = _importlib_util.spec_from_file_location(
    "grader_fixtures", _Path(__file__).resolve().parent / "fixtures" / "grader_fixtures.py")
grader_fixtures = _importlib_util.module_from_spec(_spec)
_spec.loader.exec_module(grader_fixtures)
sys.modules["grader_fixtures"] = grader_fixtures  # test modules: `import grader_fixtures as fx`


@_pytest.fixture(scope="module")
def sandbox():
    """Two sandboxed grading workers, started once per test module."""
    from course_lib.grading.sandbox import Sandbox

    with Sandbox(workers=2, time_limit=20.0) as sb:
        yield sb


@_pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The shipped notebook 01 (starter code, unanswered questions): it defines what is graded."""
    return grader_fixtures.write(grader_fixtures.shipped("01"),
                                 tmp_path_factory.mktemp("template") / "01_actor_critic_basics.ipynb")
