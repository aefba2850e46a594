"""Clips as rows of the embedded store's LanceDB table (Arrow), and back."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from streammm.records import VECTOR_NAMES, Clip
from streammm.store.checks import checked_clip_vectors
from streammm.store.rows import (
    frame_vectors_bytes,
    frame_vectors_from_bytes,
    names_from_text,
    names_text,
    ocr_lines_from_json,
    ocr_lines_json,
    words_from_json,
    words_json,
)

_PRIMARY_KEY = {b"lance-schema:unenforced-primary-key": b"true"}
# The clip's transcript and on-screen text as one BM25 document (one index and one query instead of one
# per field: 3x faster at 1M clips). Written with every row; BM25_TEXT_SQL makes it for older tables.
BM25_TEXT = "bm25_text"
BM25_TEXT_SQL = "concat_ws(' ', transcript, ocr_text)"


def bm25_text(clip: Clip) -> str:
    """The clip's BM25 document, as BM25_TEXT_SQL makes it from the stored columns."""
    return f"{clip.transcript} {clip.ocr_text}"


@functools.cache
def clip_schema(dim: int) -> pa.Schema:
    """The table's columns: the clip's fields, JSON for its words and OCR lines, a vector and flag per name.

    A clip lacking a vector holds zeros in its column and False in its `has_` flag.
    """
    vector = pa.list_(pa.float32(), dim)
    return pa.schema(
        [
            pa.field("clip_id", pa.string(), nullable=False, metadata=_PRIMARY_KEY),
            pa.field("stream_id", pa.string(), nullable=False),
            pa.field("start_s", pa.float64(), nullable=False),
            pa.field("end_s", pa.float64(), nullable=False),
            pa.field("profile", pa.string()),
            pa.field("transcript", pa.string()),
            pa.field("ocr_text", pa.string()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("words_json", pa.string()),
            pa.field("ocr_lines_json", pa.string()),
            pa.field("frame_times", pa.list_(pa.float64())),
            pa.field("thumbnail", pa.string()),
            pa.field("expected", pa.string()),
            pa.field("pending", pa.string()),
            pa.field("run_started_at", pa.float64()),
            pa.field("sample_fps", pa.float64()),
            pa.field(BM25_TEXT, pa.string()),
            pa.field("frame_vectors", pa.binary()),
            pa.field("shot_times", pa.list_(pa.float64())),
            *(pa.field(name, vector, nullable=False) for name in VECTOR_NAMES),
            *(pa.field(f"has_{name}", pa.bool_(), nullable=False) for name in VECTOR_NAMES),
        ]
    )


def clip_columns(dim: int) -> list[str]:
    """The columns a Clip is read from (every column but the BM25 document, which only search reads)."""
    return [name for name in clip_schema(dim).names if name != BM25_TEXT]


def clips_to_arrow(clips: Sequence[Clip], dim: int) -> pa.Table:
    """Rows for `clips`; StoreError for an unknown vector name or a vector that is not a finite `dim`-d one."""
    checked = [checked_clip_vectors(clip, dim) for clip in clips]
    data: dict[str, object] = {
        "clip_id": [c.clip_id for c in clips],
        "stream_id": [c.stream_id for c in clips],
        "start_s": [float(c.start_s) for c in clips],
        "end_s": [float(c.end_s) for c in clips],
        "profile": [c.profile for c in clips],
        "transcript": [c.transcript for c in clips],
        "ocr_text": [c.ocr_text for c in clips],
        "tags": [list(c.tags) for c in clips],
        "words_json": [words_json(c.words) for c in clips],
        "ocr_lines_json": [ocr_lines_json(c.ocr_lines) for c in clips],
        "frame_times": [[float(t) for t in c.frame_times] for c in clips],
        "thumbnail": [c.thumbnail for c in clips],
        "expected": [names_text(c.expected) for c in clips],
        "pending": [names_text(c.pending) for c in clips],
        "run_started_at": [float(c.run_started_at) for c in clips],
        "sample_fps": [float(c.sample_fps) for c in clips],
        BM25_TEXT: [bm25_text(c) for c in clips],
        "frame_vectors": [frame_vectors_bytes(c, dim) for c in clips],
        "shot_times": [[float(t) for t in c.shot_times] for c in clips],
    }
    for name in VECTOR_NAMES:
        matrix = np.zeros((len(clips), dim), dtype=np.float32)
        for row, vectors in enumerate(checked):
            if name in vectors:
                matrix[row] = vectors[name]
        data[name] = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dim)
        data[f"has_{name}"] = [name in vectors for vectors in checked]
    return pa.Table.from_pydict(data, schema=clip_schema(dim))


def clips_from_arrow(rows: pa.Table, dim: int) -> list[Clip]:
    """The clips in `rows`, which hold every column of clip_schema(dim) (and may hold others)."""
    plain = rows.select([c for c in clip_columns(dim) if c not in VECTOR_NAMES]).to_pydict()
    matrices = {name: vector_matrix(rows, name, dim) for name in VECTOR_NAMES}
    return [
        Clip(
            clip_id=plain["clip_id"][i],
            stream_id=plain["stream_id"][i],
            start_s=plain["start_s"][i],
            end_s=plain["end_s"][i],
            profile=plain["profile"][i] or "",
            transcript=plain["transcript"][i] or "",
            ocr_text=plain["ocr_text"][i] or "",
            tags=tuple(plain["tags"][i] or ()),
            words=words_from_json(plain["words_json"][i]),
            ocr_lines=ocr_lines_from_json(plain["ocr_lines_json"][i]),
            frame_times=tuple(plain["frame_times"][i] or ()),
            vectors={n: matrices[n][i].copy() for n in VECTOR_NAMES if plain[f"has_{n}"][i]},
            thumbnail=plain["thumbnail"][i] or "",
            expected=names_from_text(plain["expected"][i]),
            pending=names_from_text(plain["pending"][i]),
            run_started_at=plain["run_started_at"][i] or 0.0,
            sample_fps=plain["sample_fps"][i] or 0.0,
            frame_vectors=frame_vectors_from_bytes(plain["frame_vectors"][i], len(plain["frame_times"][i] or ())),
            shot_times=tuple(plain["shot_times"][i] or ()),
        )
        for i in range(rows.num_rows)
    ]


def vector_matrix(rows: pa.Table, name: str, dim: int) -> np.ndarray:
    """The vector column `name` of `rows` as an (n, dim) float32 array."""
    return rows.column(name).combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
