"""Stored results with their provenance: the one place that writes and reads ``notebooks/data/``.

Some experiments take minutes, too long for a notebook's run-time budget, so a script runs them once and the
notebook loads the result. A stored result must not silently go stale, so each file carries its provenance::

    {"provenance": {"name", "script", "config", "seeds", "versions", "source_hash", "depends", "prefix",
                    "outputs", "created", "seconds"},
     "data": {...}}

* ``config`` — every setting of the run, as the script's ``config()`` returns it today;
* ``source_hash`` — a hash of the code that produced it: the script, its helpers and the notebook cells it
  executes, and of every ``course_lib`` module it imports (transitively) the statements that run on import plus
  the functions and classes it can reach by name (so a new function elsewhere in a module does not make it
  stale). Hashed from the syntax tree, so comments, docstrings and formatting do not count; ``depends`` lists
  those files with the names hashed. ``tests/test_stored_results.py`` checks that every course_lib function a
  live re-run calls is covered;
* ``prefix`` — the first few updates of one run, which ``prefix(config)`` re-runs in seconds;
* ``outputs`` — SHA-256 of any extra files the run wrote (agents);
* ``versions`` of Python, torch, numpy, gymnasium (and Stable-Baselines3 when used).

A data script ``notebooks/scripts/NAME.py`` defines ``config()``, ``prefix(config)``, ``run(config)`` and
optionally ``OUTPUTS`` (extra file names) and ``NOTEBOOK_CELLS = (notebook stem, tag)``; ``make data NAME``
(or ``python notebooks/scripts/NAME.py``) runs it through :func:`main`. A notebook calls :func:`load`, which
refuses a stale file, and :func:`assert_same_prefix` on its live re-run. ``tests/test_stored_results.py`` checks
every file the same way, re-running every prefix.
"""
from __future__ import annotations

import ast
import datetime
import functools
import hashlib
import importlib.util
import json
import math
import platform
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "notebooks" / "data"
SCRIPTS_DIR = ROOT / "notebooks" / "scripts"
SOURCES_DIR = ROOT / "notebooks" / "src"
PACKAGE_DIR = ROOT / "course_lib"
PROVENANCE_FIELDS = ("name", "script", "config", "seeds", "versions", "source_hash", "depends", "prefix",
                     "outputs", "created", "seconds")
RTOL, ATOL = 1e-5, 1e-8  # how closely a live prefix must reproduce the stored one
# modules that only move results between files and memory: they cannot change a number, so editing them does
# not make every stored result stale (the file format itself is checked on every load)
NOT_HASHED = {"course_lib.stored_results"}


class StaleResult(AssertionError):
    """A stored result no longer matches the code or the settings that are supposed to produce it."""


def _stale(name: str, why: str) -> StaleResult:
    return StaleResult(f"stale: run `make data {name}` — notebooks/data/{name}.json {why}")


@dataclass(frozen=True)
class StoredResult:
    """A loaded ``notebooks/data/NAME.json``: ``data`` is the run's payload, ``provenance`` how it was made."""

    name: str
    data: dict[str, Any]
    provenance: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        return self.provenance["config"]

    @property
    def prefix(self) -> Any:
        return self.provenance["prefix"]


# ------------------------------------------------------------------------------------------------ paths ----
def data_path(filename: str) -> Path:
    """``notebooks/data/<filename>`` (a bare file name: no folders)."""
    if Path(filename).name != filename:
        raise ValueError(f"a data file name has no folders: {filename!r}")
    return DATA_DIR / filename


def script_path(name: str) -> Path:
    path = SCRIPTS_DIR / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no data script {path.relative_to(ROOT)}; known: {', '.join(script_names())}")
    return path


def script_names() -> list[str]:
    """The data scripts: every ``notebooks/scripts/*.py`` that defines ``run``, ``config`` and ``prefix``."""
    names = []
    for path in sorted(SCRIPTS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if {"run", "config", "prefix"} <= defined:
            names.append(path.stem)
    return names


@functools.lru_cache(maxsize=None)
def load_script(name: str) -> types.ModuleType:
    """Import ``notebooks/scripts/<name>.py`` as a module (it does no work at import)."""
    path = script_path(name)
    if str(SCRIPTS_DIR) not in sys.path:  # scripts may import helpers that sit beside them
        sys.path.insert(0, str(SCRIPTS_DIR))
    spec = importlib.util.spec_from_file_location(f"course_data_scripts.{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    for attribute in ("config", "prefix", "run"):
        if not callable(getattr(module, attribute, None)):
            raise TypeError(f"{path.relative_to(ROOT)} must define {attribute}() (see course_lib/stored_results.py)")
    return module


# ------------------------------------------------------------------------------------- notebook cells ----
def tagged_cells_code(notebook: str, tag: str) -> str:
    """The code of the cells tagged ``tag`` in ``notebooks/src/<notebook>.py``, joined in order."""
    import jupytext  # imported here: only scripts and tests need it

    source = SOURCES_DIR / f"{notebook}.py"
    cells = [c.source for c in jupytext.read(source, fmt="py:percent").cells
             if c.cell_type == "code" and tag in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"no code cells tagged {tag!r} in notebooks/src/{source.name}")
    return "\n\n".join(cells)


@functools.lru_cache(maxsize=None)
def load_tagged_cells(notebook: str, tag: str) -> dict[str, Any]:
    """Execute the code cells tagged ``tag`` of ``notebooks/src/<notebook>.py``; return their namespace.

    This is how a script runs *exactly the notebook's code*. The namespace is a registered module (so that
    dataclasses defined in the cells can find their module); the result is cached per (notebook, tag).
    """
    code = tagged_cells_code(notebook, tag)
    module = types.ModuleType(f"course_notebook_cells.{notebook}.{tag}".replace("-", "_"))
    sys.modules[module.__name__] = module
    exec(compile(code, f"{notebook}.py (cells tagged {tag})", "exec"), module.__dict__)  # noqa: S102
    return module.__dict__


# ------------------------------------------------------------------------------------------ the hash ----
# The hash covers what can change a stored number, at the grain of top-level definitions: the script, its helpers
# and notebook cells whole, and in each course_lib module reached, the statements that run on import (imports,
# assignments, ...) plus the functions and classes the run can reach by name. Adding or editing a function that no
# stored result uses (say a new config for another task) then leaves the stored results valid. A module used as a
# value (not just ``module.name``), or one that calls ``globals()`` / ``vars()``, is hashed whole.
_WHOLE = "*"
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, *_DEFS)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _normalised(code: str) -> str:
    """The syntax tree of ``code`` without docstrings, as text: comments and layout do not count."""
    return _dump(_strip_docstrings(ast.parse(code)))


def _module_file(name: str) -> Path | None:
    """The source file of ``course_lib`` module ``name`` (a package's ``__init__.py``), or None if no such module."""
    relative = Path(*name.split("."))
    for candidate in (ROOT / relative.with_suffix(".py"), ROOT / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_course_lib(name: str) -> bool:
    return name == "course_lib" or name.startswith("course_lib.")


def _import_bindings(nodes: list[ast.AST], module_name: str | None) -> dict[str, tuple[str, str | None]]:
    """Local names bound by the ``course_lib`` imports anywhere in ``nodes``: name -> (module, attribute or None).

    ``from course_lib.x import f`` binds f -> ("course_lib.x", "f"); ``import course_lib.x as m`` binds
    m -> ("course_lib.x", None); ``import course_lib.x`` binds course_lib -> ("course_lib", None).
    """
    found: dict[str, tuple[str, str | None]] = {}
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if _is_course_lib(alias.name):
                        found[alias.asname or alias.name.split(".")[0]] = (
                            (alias.name, None) if alias.asname else ("course_lib", None))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level and module_name:
                    base = ".".join(module_name.split(".")[: -node.level] + ([base] if base else []))
                if _is_course_lib(base):
                    for alias in node.names:
                        found[alias.asname or alias.name] = (base, alias.name)
    return found


def _imported_modules(nodes: list[ast.AST], bindings: dict[str, tuple[str, str | None]]) -> set[str]:
    """Every ``course_lib`` module whose import statements in ``nodes`` (which bind ``bindings``) execute, parent
    packages included."""
    mods: set[str] = set()
    for target, attribute in bindings.values():
        mods.add(target)
        if attribute is not None and _module_file(f"{target}.{attribute}") is not None:
            mods.add(f"{target}.{attribute}")
    for root in nodes:  # ``import course_lib.x.y`` binds course_lib but runs x and y
        for node in ast.walk(root):
            if isinstance(node, ast.Import):
                mods |= {alias.name for alias in node.names if _is_course_lib(alias.name)}
    closed = set()
    for mod in mods:
        parts = mod.split(".")
        closed |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return {m for m in closed if _module_file(m) is not None and m not in NOT_HASHED}


@dataclass(frozen=True)
class _ModuleTop:
    """A ``course_lib`` module's top level: its definitions by name and the statements that run on import."""

    name: str
    base: str
    """What relative imports resolve against: the module's name (``pkg.__init__`` for a package)."""
    defs: dict[str, list[ast.stmt]]
    always: list[ast.stmt]
    bindings: dict[str, tuple[str, str | None]]


@functools.lru_cache(maxsize=None)
def _module_top(name: str, source: str) -> _ModuleTop:
    path = _module_file(name)
    tree = _strip_docstrings(ast.parse(source))
    defs: dict[str, list[ast.stmt]] = {}
    always: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, _DEFS):
            defs.setdefault(node.name, []).append(node)
        elif not _is_export_list(node):
            always.append(node)
    base = f"{name}.__init__" if path.name == "__init__.py" else name
    return _ModuleTop(name, base, defs, always, _import_bindings(always, base))


def _is_export_list(node: ast.stmt) -> bool:
    """``__all__ = [...]``: it only names what ``import *`` takes (and a star import hashes the module whole)."""
    return (isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
            and [getattr(t, "id", None) for t in (node.targets if isinstance(node, ast.Assign) else [node.target])]
            == ["__all__"])


def _top(name: str) -> _ModuleTop:
    return _module_top(name, _module_file(name).read_text())


class _Closure:
    """What a run can reach: modules executed on import, and per module the top-level names used (or all)."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.names: dict[str, set[str]] = {}

    # -- walking ------------------------------------------------------------------------------------------------
    def add_code(self, nodes: list[ast.AST], module_name: str | None, bindings: dict[str, tuple[str, str | None]],
                 local: dict[str, list[ast.stmt]] | None = None, home: str | None = None) -> None:
        """Follow every name ``nodes`` use: imports run their modules, names resolve to definitions."""
        own = _import_bindings(nodes, module_name)
        for mod in _imported_modules(nodes, own):
            self.add_module(mod)
        bindings = {**bindings, **own}
        for target, attribute in bindings.values():
            if attribute == "*":  # ``from course_lib.x import *``: anything in x may be used
                self.need(target, _WHOLE)
        for node in nodes:
            for chain in _name_chains(node):
                self._use(chain, bindings, local or {}, home)

    def add_module(self, mod: str) -> None:
        if mod in self.modules or mod in NOT_HASHED or _module_file(mod) is None:
            return
        self.modules.add(mod)
        self.names.setdefault(mod, set())
        top = _top(mod)
        if "." in mod:
            self.add_module(mod.rsplit(".", 1)[0])  # a parent package's __init__ runs on import too
        self._add_module_code(top, top.always)

    def need(self, mod: str, name: str) -> None:
        self.add_module(mod)
        if mod not in self.modules:
            return
        have = self.names[mod]
        if name in have or _WHOLE in have:
            return
        top = _top(mod)
        if name == _WHOLE:
            have.add(_WHOLE)
            for nodes in top.defs.values():
                self._add_module_code(top, nodes)
        elif name in top.defs:
            have.add(name)
            self._add_module_code(top, top.defs[name])
        elif name in top.bindings:  # re-exported: follow the import
            self._use([name], top.bindings, {}, mod)
        elif _module_file(f"{mod}.{name}") is not None:
            self.add_module(f"{mod}.{name}")

    def _add_module_code(self, top: _ModuleTop, nodes: list[ast.stmt]) -> None:
        """Follow ``nodes`` of module ``top``; code that reads ``globals()`` or ``vars()`` needs the whole module."""
        if any(chain[0] in ("globals", "vars") for node in nodes for chain in _name_chains(node)):
            self.need(top.name, _WHOLE)
        self.add_code(nodes, top.base, top.bindings, top.defs, top.name)

    def _use(self, chain: list[str], bindings: dict[str, tuple[str, str | None]],
             local: dict[str, list[ast.stmt]], home: str | None) -> None:
        """Resolve a use ``a.b.c`` (as a list of names) to definitions and modules."""
        head, rest = chain[0], chain[1:]
        if head in local and home is not None:
            self.need(home, head)
            return
        if head not in bindings:
            return  # a builtin, a local variable, or something outside course_lib
        mod, attribute = bindings[head]
        if attribute is not None:
            if _module_file(f"{mod}.{attribute}") is None or attribute in _top(mod).defs:
                self.need(mod, attribute)
                return
            mod = f"{mod}.{attribute}"  # ``from course_lib.algos import ppo``: a module object
        self.add_module(mod)
        for name in rest:  # module.attr.attr...: descend while the attribute is a submodule
            if _module_file(f"{mod}.{name}") is not None and name not in _top(mod).defs:
                mod = f"{mod}.{name}"
                self.add_module(mod)
                continue
            self.need(mod, name)
            return
        self.need(mod, _WHOLE)  # the module itself used as a value: anything in it may be reached


def _name_chains(node: ast.AST) -> list[list[str]]:
    """Every ``a`` and ``a.b.c`` that ``node`` uses, as lists of names (the longest dotted chain only)."""
    chains: list[list[str]] = []

    def visit(n: ast.AST) -> None:
        if isinstance(n, ast.Attribute):
            parts, inner = [], n
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                chains.append([inner.id, *reversed(parts)])
                return
            visit(inner)
            return
        if isinstance(n, ast.Name):
            chains.append([n.id])
            return
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(node)
    return chains


def _helpers(name: str, codes: list[str]) -> list[Path]:
    """The modules beside data script ``name`` in ``notebooks/scripts/`` that any of ``codes`` imports."""
    return [helper for helper in sorted(SCRIPTS_DIR.glob("*.py")) if helper.stem != name
            and any(f"import {helper.stem}" in code or f"from {helper.stem} " in code for code in codes)]


def _entry_codes(name: str) -> list[tuple[str, str]]:
    """``(label, code)`` of what a data script runs whole: the script, its helpers, its notebook cells."""
    module = load_script(name)
    script = script_path(name).read_text()
    parts = [(f"notebooks/scripts/{name}.py", script)]
    for helper in _helpers(name, [script]):
        parts.append((f"notebooks/scripts/{helper.name}", helper.read_text()))
    cells = getattr(module, "NOTEBOOK_CELLS", None)
    if cells:
        parts.append((f"notebooks/src/{cells[0]}.py [{cells[1]}]", tagged_cells_code(*cells)))
    return parts


def reach(name: str) -> dict[str, set[str]]:
    """The ``course_lib`` code data script ``name`` can run: module -> top-level names used (``{"*"}``: all)."""
    closure = _Closure()
    for _, code in _entry_codes(name):
        tree = ast.parse(code)
        closure.add_code(tree.body, None, {})
    return {mod: set(closure.names[mod]) for mod in sorted(closure.modules)}


def source_hash(name: str) -> tuple[str, list[str]]:
    """``(sha256, depends)`` of the code that produces ``NAME.json``: script, helpers, notebook cells, and the
    reachable part of the library (see the comment above ``_WHOLE``)."""
    digest = hashlib.sha256()
    parts = [(label, _normalised(code)) for label, code in _entry_codes(name)]
    for mod, names in sorted(reach(name).items(), key=lambda item: str(_module_file(item[0]))):
        top = _top(mod)
        chosen = list(top.defs) if _WHOLE in names else [n for n in top.defs if n in names]
        label = f"{_module_file(mod).relative_to(ROOT)}" + (" [all]" if _WHOLE in names else f" [{', '.join(chosen)}]")
        body = [_dump(node) for node in top.always] + [_dump(node) for n in chosen for node in top.defs[n]]
        parts.append((label, "\n".join(body)))
    for label, text in parts:
        digest.update(label.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest(), [label for label, _ in parts]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of Python and the numerical libraries (plus any of ``extra`` that are imported)."""
    found = {"python": platform.python_version()}
    for package in ("torch", "numpy", "gymnasium", *extra, "stable_baselines3"):
        module = sys.modules.get(package)
        if module is None and package in ("torch", "numpy", "gymnasium"):
            module = importlib.import_module(package)
        if module is not None:
            found[package] = getattr(module, "__version__", "?")
    return found


# ------------------------------------------------------------------------------------- writing ----
def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (numpy numbers and arrays, tuples, Paths converted)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} in JSON: {value!r}")


def produce(name: str) -> Path:
    """Run the data script ``name`` (its ``run``, then its ``prefix``) and write ``NAME.json`` with provenance."""
    module = load_script(name)
    config = _jsonable(module.config())
    if "seeds" not in config:
        raise KeyError(f"{name}.config() must list its seeds under the key 'seeds'")
    start = time.perf_counter()
    data = module.run(config)
    seconds = time.perf_counter() - start
    prefix = module.prefix(config)
    outputs = {f: file_sha256(data_path(f)) for f in getattr(module, "OUTPUTS", ())}
    digest, depends = source_hash(name)
    provenance = {
        "name": name, "script": f"notebooks/scripts/{name}.py", "config": config, "seeds": config["seeds"],
        "versions": versions(), "source_hash": digest, "depends": depends, "prefix": _jsonable(prefix),
        "outputs": outputs, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
    }
    target = data_path(f"{name}.json")
    target.write_text(json.dumps({"provenance": provenance, "data": _jsonable(data)}, separators=(",", ":")) + "\n")
    return target


def main(script_file: str) -> None:
    """Entry point of a data script run as ``python notebooks/scripts/NAME.py``."""
    name = Path(script_file).stem
    start = time.perf_counter()
    target = produce(name)
    print(f"wrote {target.relative_to(ROOT)} ({target.stat().st_size / 1024:.0f} kB) "
          f"in {time.perf_counter() - start:.0f} s")


# ------------------------------------------------------------------------------------- reading ----
def read(name: str) -> StoredResult:
    """Read ``NAME.json`` without any check (see :func:`load` for the checked version)."""
    path = data_path(f"{name}.json")
    if not path.is_file():
        raise FileNotFoundError(f"notebooks/data/{name}.json is missing: run `make data {name}`")
    raw = json.loads(path.read_text())
    if not isinstance(raw, dict) or "provenance" not in raw or "data" not in raw:
        raise _stale(name, "has no provenance (it predates stored_results)")
    missing = [f for f in PROVENANCE_FIELDS if f not in raw["provenance"]]
    if missing:
        raise _stale(name, f"lacks provenance fields {missing}")
    return StoredResult(name, raw["data"], raw["provenance"])


def check(stored: StoredResult) -> None:
    """Raise ``StaleResult`` unless ``stored`` was made by today's config, today's code and its outputs are intact."""
    name = stored.name
    module = load_script(name)
    today = _jsonable(module.config())
    if today != stored.config:
        changed = sorted(_differences(stored.config, today))
        raise _stale(name, f"was made with other settings than the script's config() today: {changed[:6]}")
    digest, _ = source_hash(name)
    if digest != stored.provenance["source_hash"]:
        raise _stale(name, "was made by other code: the script, its notebook cells or a course_lib module it "
                           f"imports changed since {stored.provenance['created']}")
    for filename, sha in stored.provenance["outputs"].items():
        path = data_path(filename)
        if not path.is_file() or file_sha256(path) != sha:
            raise _stale(name, f"records {filename}, which is missing or has been changed since")


def load(name: str) -> StoredResult:
    """Read and :func:`check` ``notebooks/data/NAME.json``; raise ``StaleResult`` if it is out of date."""
    stored = read(name)
    check(stored)
    return stored


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths at which two JSON values differ (for messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}.{key}")
            else:
                out += _differences(a[key], b[key], f"{path}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "(root)"]


def close(a: Any, b: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two JSON values are equal, numbers compared to ``rtol``/``atol`` (NaN equals NaN)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y, rtol, atol) for x, y in zip(a, b))
    return a == b


def assert_same_prefix(stored: StoredResult, live: Any) -> None:
    """Raise ``StaleResult`` unless a live re-run of the first updates reproduces the stored prefix."""
    live = _jsonable(live)
    if not close(stored.prefix, live):
        raise _stale(stored.name, f"is not reproduced by today's code: its first updates were {stored.prefix!r:.300} "
                                  f"but a live re-run gives {live!r:.300}")


def cli(argv: list[str] | None = None) -> int:
    """``python -m course_lib.stored_results [NAME ...]``: regenerate the named results (default: all of them)."""
    import argparse

    from tqdm.auto import tqdm

    parser = argparse.ArgumentParser(description="Regenerate the stored results in notebooks/data/ "
                                                 "(`make data` / `make data NAME`).")
    parser.add_argument("names", nargs="*", help=f"data scripts to run (default: all of {', '.join(script_names())})")
    parser.add_argument("--list", action="store_true", help="list each stored result and whether it is stale")
    args = parser.parse_args(argv)
    known = script_names()
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"no data script called {', '.join(unknown)}; the data scripts are: {', '.join(known)}")
    names = args.names or known
    if args.list:
        for name in names:
            try:
                stored = load(name)
                print(f"{name}: up to date (made {stored.provenance['created']} in {stored.provenance['seconds']} s)")
            except (StaleResult, FileNotFoundError) as err:
                print(f"{name}: {err}")
        return 0
    start = time.perf_counter()
    for name in tqdm(names, desc="stored results", unit="file", disable=len(names) == 1):
        begun = time.perf_counter()
        target = produce(name)
        tqdm.write(f"wrote {target.relative_to(ROOT)} in {time.perf_counter() - begun:.0f} s")
    print(f"{len(names)} stored result(s) regenerated in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
