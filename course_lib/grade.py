"""Grade saved course notebooks: ``python -m course_lib.grade SUBMISSION.ipynb [MORE | FOLDER ...] --out grades.csv``.

The grader lives in ``course_lib.grading`` (run ``python -m course_lib.grade --help`` for the options); this
module is its command-line entry point and keeps the short import path ``from course_lib import grade``.
"""
from __future__ import annotations

import sys

from .grading import *  # noqa: F401,F403 - the grader's public API under its historical name
from .grading import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
