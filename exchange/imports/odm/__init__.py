"""The CDISC ODM 1.3.2 import: ``import_odm(source, user=None, dry_run=False)``.

Reads the ClinicalData of a file written by ``exchange.exports.odm`` (or any
file that uses the same OIDs) and creates the subjects it holds. Three steps,
one module each:

- ``parse``: XML, forbidden markup, the ODM 1.3.2 schema, OIDs, keys and value
  types -> plain records (:class:`~.parse.SubjectRecord`), no database;
- ``load``: the records written through the services the forms and the API
  use (``record_save``; ``cycle_parts_build`` + ``cycle_save`` for a cycle),
  with the import's reason passed explicitly; all or nothing in one
  transaction (:func:`import_odm`);
- ``verify``: after the load, the file's derived items and deviations against
  what the rules stored.
"""

from .load import ImportResult, import_odm
from .parse import ImportIssue, OdmImportError

__all__ = ["ImportIssue", "ImportResult", "OdmImportError", "import_odm"]
