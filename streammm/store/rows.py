"""A clip's words, OCR lines, modality names and frame vectors as both clip stores keep them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from typing import Any, TypeVar

import numpy as np

from streammm.records import Clip, OcrLine, Word
from streammm.store.checks import checked_frame_vectors

Record = TypeVar("Record", Word, OcrLine)


def words_json(words: Sequence[Word]) -> str:
    return json.dumps([asdict(w) for w in words], default=float)


def words_from_json(text: str | None) -> tuple[Word, ...]:
    return _records(Word, text)


def ocr_lines_json(lines: Sequence[OcrLine]) -> str:
    """OCR lines by field name; `pressed` only where the line was (most lines never are)."""
    fields = [{k: v for k, v in asdict(line).items() if k != "pressed" or v} for line in lines]
    return json.dumps(fields, default=float)


def ocr_lines_from_json(text: str | None) -> tuple[OcrLine, ...]:
    """OCR lines as stored; `pressed` (absent from rows written before it was kept, and from lines never pressed)
    as (start_s, end_s) pairs. Read on every search: only a line with presses is built twice."""
    lines = _records(OcrLine, text)
    return tuple(line if line.pressed == () else replace(line, pressed=tuple((float(a), float(b)) for a, b in line.pressed)) for line in lines)


def names_text(names: Iterable[str]) -> str:
    """Modality names (a clip's `expected` or `pending`) as one comma-separated string."""
    return ",".join(names)


def names_from_text(text: str | None) -> tuple[str, ...]:
    return tuple(name for name in (text or "").split(",") if name)


FRAME_SCALE = 127.0  # frame vectors are kept as int8 (unit vectors x 127): a quarter of float32's size


def frame_vectors_bytes(clip: Clip, dim: int) -> bytes:
    """The clip's frame vectors as int8 bytes (b"" when it has none); StoreError as checked_frame_vectors."""
    matrix = checked_frame_vectors(clip, dim)
    if matrix is None:
        return b""
    return np.clip(np.rint(matrix * FRAME_SCALE), -127, 127).astype(np.int8).tobytes()


def frame_vectors_from_bytes(data: bytes | None, frames: int) -> np.ndarray | None:
    """The frame vectors frame_vectors_bytes kept for `frames` frame times (None when none were kept)."""
    if not data or frames < 1 or len(data) % frames:
        return None
    return np.frombuffer(data, dtype=np.int8).reshape(frames, -1).astype(np.float32) / FRAME_SCALE


def _records(kind: type[Record], text: str | None) -> tuple[Record, ...]:
    """Records from a JSON list of objects of their fields (as written now, and by the embedded store
    before) or of lists of their fields in order (as the Weaviate store wrote them before)."""
    return tuple(_record(kind, item) for item in json.loads(text or "[]"))


def _record(kind: type[Record], item: Any) -> Record:
    return kind(**item) if isinstance(item, dict) else kind(*item)
