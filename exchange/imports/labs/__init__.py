"""The laboratory-results import: CSV or XLSX lab values into the patients' assessments.

Three steps, one module each (as ``exchange.imports.odm``):

- ``parse``: the file's bytes -> a plain table (headers, rows as text), the automatic
  mapping of its headers to the fields, and the cells' values (French decimal commas,
  day-first dates); no database;
- ``load``: the rows matched to assessments by subject id and date, the dry run's diff
  (:func:`dry_run`, a fixed number of queries) and the commit (:func:`commit`: the same
  plan again in one transaction, refused if it is not the plan that was confirmed, each
  change through ``visits.services.assessment_save`` with the reason and the user);
- ``verify``: after the commit, inside its transaction, the stored values and history
  rows against the plan.

Channels: the page ``/imports/labs/`` (``exchange.views``) and
``manage.py import_labs FILE --reason ... --user ... [--commit]``.
"""

from .load import (CHANGED, ERROR, NEW, PERMISSION, UNCHANGED, LabImportError, MappingError, Plan, check_mapping,
                   commit, dry_run)
from .parse import FIELDS, LAB_FIELDS, LabFileError, Table, auto_mapping, read

__all__ = ["CHANGED", "ERROR", "FIELDS", "LAB_FIELDS", "NEW", "PERMISSION", "UNCHANGED", "LabFileError",
           "LabImportError", "MappingError", "Plan", "Table", "auto_mapping", "check_mapping", "commit", "dry_run",
           "read"]
