"""Concept checks in the notebooks (the widget half is being written; the bank API is stable).

``load_bank`` and ``check_answer`` are re-exported from :mod:`course_lib.quiz_bank`.
"""
from course_lib.quiz_bank import (BankError, Choice, Question, QuizResult, UnknownQuestionError,  # noqa: F401
                                  check_answer, load_bank)
