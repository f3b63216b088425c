"""The auto-grader: ``python -m course_lib.grade`` (see ``cli.py``), one module per concept.

* ``inputs``: read every submission, template and the quiz bank into memory before any cell runs;
* ``notebooks``: find the answer cells of a notebook and parse them safely (nothing is executed);
* ``items``: score each exercise and quiz item of a submission, with a reason for every lost point;
* ``sandbox``: the pool of workers that run exercise cells (grader side), with ``worker`` (inside a worker),
  ``confinement`` (the bubblewrap sandbox of a worker), ``namespaces`` (each item's own namespaces),
  ``cgroups`` (memory and task limits) and ``wire`` (the JSON the items send back);
* ``report``: the CSV and JSON results; ``cli``: the command line and ``grade_files``.

Exercise *content* (starters, references, checkers) lives in ``course_lib.exercises``.
"""
from .cli import build_parser, grade_files, main
from .inputs import Submission, collect_paths, read_submission
from .items import ItemGrade, Options, SubmissionGrade, expected_items, grade_exercise, grade_quiz, grade_submission
from .notebooks import AnswerCell, Expected, NotebookError, find_answer_cells, forbidden_uses, literal_answer
from .report import columns, csv_text, to_json
from .sandbox import Sandbox, SandboxUnavailable, isolation_problem

__all__ = ["AnswerCell", "Expected", "ItemGrade", "NotebookError", "Options", "Sandbox", "SandboxUnavailable",
           "Submission", "SubmissionGrade", "build_parser", "collect_paths", "columns", "csv_text",
           "expected_items", "find_answer_cells", "forbidden_uses", "grade_exercise", "grade_files", "grade_quiz",
           "grade_submission", "isolation_problem", "literal_answer", "main", "read_submission", "to_json"]
