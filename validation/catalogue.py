"""The requirements catalogue (``validation/requirements.yaml``), loaded and checked.

Each entry is a user requirement a sponsor's auditor traces to passing tests:
an id such as ``URS-AUD-001`` (the middle part is the area), a title, a testable
statement of what this system does, its source (the regulation clause, the
protocol or the user need) and its risk (high, medium or low).
"""

import re
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

DEFAULT_PATH = Path(__file__).with_name("requirements.yaml")
ID_PATTERN = re.compile(r"^URS-[A-Z]{2,4}-\d{3}$")
RISKS = ("high", "medium", "low")


class CatalogueError(ValueError):
    """The catalogue cannot be used; the message names the entry and the problem."""


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    statement: str
    source: str
    risk: str

    @property
    def area(self) -> str:
        """The middle part of the id: ``URS-AUD-001`` -> ``AUD``."""
        return self.id.split("-")[1]


FIELDS = tuple(f.name for f in fields(Requirement))


def _entry_name(position: int, entry) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"].strip():
        return f"entry {position} ({entry['id'].strip()})"
    return f"entry {position}"


def _requirement(position: int, entry) -> Requirement:
    name = _entry_name(position, entry)
    if not isinstance(entry, dict):
        raise CatalogueError(f"{name}: expected a mapping with the keys {', '.join(FIELDS)}")
    missing = [key for key in FIELDS if key not in entry]
    if missing:
        raise CatalogueError(f"{name}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise CatalogueError(f"{name}: unknown key {', '.join(map(str, unknown))}")
    values = {}
    for key in FIELDS:
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(f"{name}: {key} must be a non-empty text")
        values[key] = " ".join(value.split())
    if not ID_PATTERN.match(values["id"]):
        raise CatalogueError(f"{name}: id {values['id']!r} does not match {ID_PATTERN.pattern}")
    if values["risk"] not in RISKS:
        raise CatalogueError(f"{name}: risk {values['risk']!r} is not one of {', '.join(RISKS)}")
    return Requirement(**values)


def load_requirements(path=DEFAULT_PATH) -> tuple[Requirement, ...]:
    """Every requirement of the catalogue at ``path``, in file order.

    Raises :class:`CatalogueError` for a file that is not a mapping with a
    ``requirements`` list, an entry with a missing, unknown or empty field, an
    id not of the form ``URS-XXX-000``, a risk other than high, medium or low,
    or an id used twice.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise CatalogueError(f"{path}: expected a top-level key 'requirements' holding a list")
    found: dict[str, int] = {}
    requirements = []
    for position, entry in enumerate(data["requirements"], start=1):
        requirement = _requirement(position, entry)
        if requirement.id in found:
            raise CatalogueError(f"entry {position} ({requirement.id}): duplicate id, "
                                 f"already used by entry {found[requirement.id]}")
        found[requirement.id] = position
        requirements.append(requirement)
    if not requirements:
        raise CatalogueError(f"{path}: the catalogue holds no requirement")
    return tuple(requirements)
