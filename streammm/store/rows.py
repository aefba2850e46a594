"""A clip's words, OCR lines and modality names as the text both clip stores keep them in."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from streammm.records import OcrLine, Word

Record = TypeVar("Record", Word, OcrLine)


def words_json(words: Sequence[Word]) -> str:
    return json.dumps([asdict(w) for w in words], default=float)


def words_from_json(text: str | None) -> tuple[Word, ...]:
    return _records(Word, text)


def ocr_lines_json(lines: Sequence[OcrLine]) -> str:
    return json.dumps([asdict(line) for line in lines], default=float)


def ocr_lines_from_json(text: str | None) -> tuple[OcrLine, ...]:
    return _records(OcrLine, text)


def names_text(names: Iterable[str]) -> str:
    """Modality names (a clip's `expected` or `pending`) as one comma-separated string."""
    return ",".join(names)


def names_from_text(text: str | None) -> tuple[str, ...]:
    return tuple(name for name in (text or "").split(",") if name)


def _records(kind: type[Record], text: str | None) -> tuple[Record, ...]:
    """Records from a JSON list of objects of their fields (as written now, and by the embedded store
    before) or of lists of their fields in order (as the Weaviate store wrote them before)."""
    return tuple(_record(kind, item) for item in json.loads(text or "[]"))


def _record(kind: type[Record], item: Any) -> Record:
    return kind(**item) if isinstance(item, dict) else kind(*item)
