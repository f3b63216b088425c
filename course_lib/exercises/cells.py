"""Running a cell's source and describing a learner's error in one line (never a traceback wall)."""
from __future__ import annotations

import builtins
import linecache
import traceback
from typing import Any, Callable

MAX_MESSAGE = 200


def register_source(source: str, filename: str) -> None:
    """Make ``source`` visible to ``linecache`` under ``filename`` so tracebacks can quote its lines."""
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)


def run_cell(source: str, filename: str = "<cell>") -> tuple[dict[str, Any], BaseException | None]:
    """Execute a cell's ``source`` in a fresh namespace: (namespace, the exception it raised or None).

    ``SyntaxError`` (the cell cannot be compiled) is raised, not returned; so is KeyboardInterrupt.
    """
    register_source(source, filename)
    code = compile(source, filename, "exec")
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(code, namespace)  # noqa: S102 - running the cell is the point
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # noqa: BLE001 - SystemExit included: the caller reports it
        return namespace, err
    return namespace, None


def exec_cell(source: str, func_name: str, filename: str = "<cell>") -> Callable[..., Any]:
    """Execute a cell's ``source`` in a fresh namespace and return the function called ``func_name``.

    Raises whatever the cell raises; ``LookupError`` if the cell runs but defines no callable of that name.
    """
    namespace, err = run_cell(source, filename)
    if err is not None:
        raise err
    func = namespace.get(func_name)
    if not callable(func):
        raise LookupError(f"the cell does not define a function called {func_name}")
    return func


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """The first line of ``text``, shortened to ``limit`` characters."""
    lines = str(text).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def describe_exception(err: BaseException, func: Callable[..., Any] | None = None,
                       filename: str | None = None) -> str:
    """``"TypeError: text (line 7 of your cell: `loss.backward()`)"`` for an error raised while running ``func``.

    The line is the last traceback frame inside the file the learner's function was defined in (a notebook
    cell, or the grader's ``<cell ...>`` name), so line numbers count from the top of that cell. Without a
    function (an error while the cell itself runs), pass the cell's ``filename`` instead.
    """
    text = f"{type(err).__name__}: {one_line(str(err))}".rstrip(": ")
    if filename is None:
        filename = getattr(getattr(func, "__code__", None), "co_filename", None)
    frames = traceback.extract_tb(err.__traceback__) if err.__traceback__ is not None else []
    own = [f for f in frames if filename is not None and f.filename == filename]
    if own:
        frame = own[-1]
        code = one_line(frame.line or "", 80)
        quoted = f": `{code}`" if code else ""
        return f"{text} (line {frame.lineno} of your cell{quoted})"
    if isinstance(err, SyntaxError) and err.lineno is not None:
        return f"{text} (line {err.lineno} of your cell)"
    return f"{text} (raised while checking what your function returned)"
