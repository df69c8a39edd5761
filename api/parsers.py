"""Request bodies: JSON, or a 400.

A body nested a few hundred thousand levels deep makes Python's ``json`` raise
``RecursionError``, which DRF's parser lets through as a 500; here it is bad input like any
other JSON that cannot be read. (A body over Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is refused
before it is read: see :mod:`api.errors`.)
"""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deep.") from exc
