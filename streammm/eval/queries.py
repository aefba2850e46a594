"""Labelled queries for the retrieval evaluation: loading and validating a query file.

The format is that of `../shared/media/queries.json` (see docs/eval.md):

    {"queries": [{"id": "d02", "media": "derived/narrated_slideshow.mp4",
                  "query": "the narrator says 'he was not an ill disposed young man'",
                  "start": 7.31, "end": 9.84, "modality": "speech"}, ...]}

A query with `"answerable": false` names a stream that does not contain the answer: it has no window
(`start`/`end` absent or null) and is scored by whether retrieval refuses it (no-answer accuracy, see
`streammm.eval.metrics`).

Every problem is reported as a ConfigError that names the file and the query id, because a labelling
mistake found after minutes of ingesting is a wasted run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streammm.errors import ConfigError

MODALITIES = ("visual", "speech", "ocr")
REQUIRED = ("id", "media", "query", "start", "end", "modality")  # start and end not when "answerable" is false


@dataclass(frozen=True)
class LabelledQuery:
    """One labelled query: the `text` to search for and the window of `path` that answers it."""

    id: str
    media: str  # as written in the file (reports show this)
    path: Path  # the media file it names, resolved
    text: str  # the file's "query": what is searched for
    start: float | None  # None (with `end`) when not answerable
    end: float | None
    modality: str  # which evidence answers it: visual, speech, ocr, or several joined by "+"
    answerable: bool = True  # False: `path` does not contain the answer, so retrieval should return nothing


def load_queries(file: str | Path, *, media_root: str | Path | None = None) -> list[LabelledQuery]:
    """The queries in `file`; relative media paths are taken from `media_root`, else from the file's folder."""
    path = Path(file).expanduser()
    if not path.is_file():
        raise ConfigError(f"query file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("queries"), list):
        raise ConfigError(f'{path}: expected an object with a "queries" list')
    if not doc["queries"]:
        raise ConfigError(f"{path}: the queries list is empty")
    root = Path(media_root).expanduser() if media_root is not None else path.parent
    if not root.is_dir():
        raise ConfigError(f"media root not found: {root}")
    queries: list[LabelledQuery] = []
    seen: set[str] = set()
    for index, item in enumerate(doc["queries"]):
        query = _parse(item, index, root, path)
        if query.id in seen:
            raise ConfigError(f"{path}: query id {query.id!r} is used twice")
        seen.add(query.id)
        queries.append(query)
    return queries


def _parse(item: Any, index: int, root: Path, file: Path) -> LabelledQuery:
    where = f"{file}: query #{index + 1}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected an object, got {type(item).__name__}")
    if isinstance(item.get("id"), str) and item["id"].strip():
        where = f"{file}: query {item['id']!r}"
    answerable = item.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ConfigError(f"{where}: 'answerable' must be true or false, got {answerable!r}")
    required = REQUIRED if answerable else tuple(key for key in REQUIRED if key not in ("start", "end"))
    missing = [key for key in required if key not in item]
    if missing:
        raise ConfigError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    for key in ("id", "media", "query", "modality"):
        if not isinstance(item[key], str) or not item[key].strip():
            raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    if answerable:
        start, end = _seconds(item, "start", where), _seconds(item, "end", where)
        if start < 0:
            raise ConfigError(f"{where}: start ({start}) must not be negative")
        if start >= end:
            raise ConfigError(f"{where}: start ({start}) must be before end ({end})")
    else:
        given = [key for key in ("start", "end") if item.get(key) is not None]
        if given:
            raise ConfigError(
                f"{where}: is marked \"answerable\": false, so it has no window; drop {' and '.join(given)} or set "
                f"{'them' if len(given) > 1 else 'it'} to null"
            )
        start = end = None
    modality = item["modality"].strip().lower()
    unknown = [part for part in modality.split("+") if part not in MODALITIES]
    if unknown:
        raise ConfigError(f"{where}: modality {item['modality']!r} is not {', '.join(MODALITIES)} or a '+' combination")
    media = Path(item["media"]).expanduser()
    resolved = media if media.is_absolute() else root / media
    if not resolved.is_file():
        raise ConfigError(f"{where}: media file not found: {resolved}")
    return LabelledQuery(
        item["id"].strip(), item["media"], resolved.resolve(), item["query"].strip(), start, end, modality, answerable
    )


def _seconds(item: dict[str, Any], key: str, where: str) -> float:
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key!r} must be a number of seconds, got {value!r}")
    return float(value)
