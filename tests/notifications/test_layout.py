"""Notifications is reached by explicit hooks only: the kernel, the capture apps and
review never import it (DESIGN: dependencies between apps)."""

from core import services as core_services
from notifications import hooks
from review import services as review_services
from tests.review.test_layout import _imports, _modules, ROOT


def test_nothing_below_imports_notifications():
    offending = [f"{path.relative_to(ROOT)}:{line}"
                 for app in ("core", "accounts", "patients", "visits", "safety", "review")
                 for path in _modules(app) for name, line in _imports(path) if name == "notifications"]
    assert offending == []


def test_the_hooks_are_registered_once():
    assert core_services.after_change_hooks.count(hooks.after_change) == 1
    assert review_services.query_hooks.count(hooks.after_query) == 1
