"""Which tests name which requirement, read from the test files without running them.

A static scan (``ast``) of ``tests/**/*.py`` for ``pytest.mark.req(...)`` and
``mark.req(...)``: decorators on test functions and classes (methods inherit
their class's markers), module-level ``pytestmark`` (a marker or a list or
tuple of them), and ``pytest.param(..., marks=...)`` inside a decorator (the
test function is credited). Only literal string ids are read.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _is_req(node) -> bool:
    """``<anything>.mark.req(...)`` or ``mark.req(...)``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "req"):
        return False
    owner = node.func.value
    return ((isinstance(owner, ast.Attribute) and owner.attr == "mark")
            or (isinstance(owner, ast.Name) and owner.id == "mark"))


def _ids_in(node) -> list[str]:
    """The ids of every req marker anywhere inside ``node``."""
    ids = []
    for sub in ast.walk(node):
        if _is_req(sub):
            ids += [a.value for a in sub.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return ids


def _module_ids(tree) -> list[str]:
    ids = []
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.AugAssign):  # pytestmark += [...]
            targets, value = [node.target], node.value
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            ids += _ids_in(value)
    return ids


def _tests(body, prefix, inherited, found, name):
    for node in body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            ids = inherited + [i for d in node.decorator_list for i in _ids_in(d)]
            _tests(node.body, f"{prefix}{node.name}::", ids, found, name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            ids = inherited + [i for d in node.decorator_list for i in _ids_in(d)]
            for requirement_id in dict.fromkeys(ids):
                found.setdefault(requirement_id, []).append(f"{name}::{prefix}{node.name}")


def scan_file(path: Path, root: Path = ROOT) -> dict[str, list[str]]:
    """{requirement id: ["tests/x.py::test_name", ...]} for one file."""
    path = Path(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    try:
        name = path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        name = path.as_posix()
    found: dict[str, list[str]] = {}
    _tests(tree.body, "", _module_ids(tree), found, name)
    return found


def scan(tests_dir: Path = TESTS, root: Path | None = None) -> dict[str, list[str]]:
    """{requirement id: ["tests/x.py::test_name", ...]} for every ``*.py`` under ``tests_dir``;
    test names are relative to ``root`` (the repository, by default the parent of ``tests_dir``)."""
    tests_dir = Path(tests_dir)
    root = tests_dir.parent if root is None else root
    found: dict[str, list[str]] = {}
    for path in sorted(tests_dir.rglob("*.py")):
        for requirement_id, tests in scan_file(path, root).items():
            found.setdefault(requirement_id, []).extend(tests)
    return found


def untested(requirements, found) -> list[str]:
    """The ids of the requirements no test names, in catalogue order."""
    return [r.id for r in requirements if not found.get(r.id)]


def unknown(requirements, found) -> list[str]:
    """The ids markers name that the catalogue does not hold, sorted."""
    known = {r.id for r in requirements}
    return sorted(i for i in found if i not in known)
