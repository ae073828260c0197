"""pytest plugin: the ``req`` marker that traces a test to the requirements it proves.

Loaded by ``-p validation.plugin`` (``pytest.ini``). ``@pytest.mark.req("URS-AUD-001",
...)`` goes on a function, a class, a module (``pytestmark``) or a ``pytest.param``.
At collection a marker naming an id that is not in the catalogue stops the run
(a ``UsageError`` naming the id and the test; under xdist a failed collection
report with the same message, which stops the run too); every collected test with markers
gets the user property ``requirements`` (its ids, space-separated, in catalogue
order), which ``--junitxml`` writes as a ``<property>`` of its ``<testcase>``
(with xdist too: the workers send user properties back with each report).
"""

import pytest

from validation.catalogue import DEFAULT_PATH, CatalogueError, load_requirements

MARKER = "req"
PROPERTY = "requirements"


def pytest_addoption(parser):
    parser.addini("requirements_catalogue", "the requirements catalogue the req markers name "
                  "(default: validation/requirements.yaml)", default=str(DEFAULT_PATH))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{MARKER}(*ids): the requirements (validation/requirements.yaml) this test proves")


def item_requirement_ids(item) -> list[str]:
    """The ids the ``req`` markers of ``item`` name (function, class, module and
    parametrisation markers), each once, in the order met; ``ValueError`` for a
    marker without ids or with an id that is not a string."""
    ids = []
    for mark in item.iter_markers(name=MARKER):
        if not mark.args:
            raise ValueError("a req marker needs at least one requirement id")
        for value in mark.args:
            if not isinstance(value, str):
                raise ValueError(f"a requirement id is a string, not {value!r}")
            if value not in ids:
                ids.append(value)
    return ids


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    if not any(item.get_closest_marker(MARKER) for item in items):
        return
    try:
        catalogue = load_requirements(config.getini("requirements_catalogue"))
    except CatalogueError as exc:
        raise pytest.UsageError(f"requirements catalogue: {exc}") from exc
    order = {requirement.id: position for position, requirement in enumerate(catalogue)}
    problems = []
    for item in items:
        try:
            ids = item_requirement_ids(item)
        except ValueError as exc:
            problems.append(f"{item.nodeid}: {exc}")
            continue
        unknown = [i for i in ids if i not in order]
        if unknown:
            problems.append(f"{item.nodeid}: unknown requirement {', '.join(unknown)}")
            continue
        if ids:
            item.user_properties.append((PROPERTY, " ".join(sorted(ids, key=order.__getitem__))))
    if not problems:
        return
    message = ("req markers that name no requirement of the catalogue "
               f"({config.getini('requirements_catalogue')}):\n  " + "\n  ".join(problems))
    if hasattr(config, "workerinput"):
        # An xdist worker: a UsageError here would crash the controller without the
        # message; a failed collection report reaches it and stops the run instead.
        config.hook.pytest_collectreport(report=pytest.CollectReport(
            "validation/requirements.yaml", "failed", message, []))
        items.clear()
        return
    raise pytest.UsageError(message)
