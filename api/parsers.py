"""The API's JSON parser: DRF's, with a too-deeply nested body as a 400.

``json.loads`` raises ``RecursionError`` (not a ``ValueError``) for a body
nested deeper than the interpreter's recursion limit (e.g. 5,000 ``[``):
DRF's parser lets it through and the request ended in a 500. It is a parse
error like any other malformed body.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
