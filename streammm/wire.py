"""The JSON form of a Clip's fields, shared by the clips topic (bus.codec) and the HTTP API (server).

Times are media seconds as stored (not rounded), so a clip read back is the clip written. Words and
on-screen lines travel as `{start_s, end_s, text}`: their confidences and screen positions stay in the store.
Vectors, the thumbnail's file name and anything else a consumer needs are added by that consumer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from streammm.records import Clip, OcrLine, Word


def clip_json(clip: Clip) -> dict[str, Any]:
    return {
        "clip_id": clip.clip_id,
        "stream_id": clip.stream_id,
        "start_s": clip.start_s,
        "end_s": clip.end_s,
        "profile": clip.profile,
        "transcript": clip.transcript,
        "ocr_text": clip.ocr_text,
        "tags": list(clip.tags),
        "words": [span_json(w.start_s, w.end_s, w.text) for w in clip.words],
        "ocr_lines": [span_json(o.start_s, o.end_s, o.text) for o in clip.ocr_lines],
        "frame_times": list(clip.frame_times),
        "expected": list(clip.expected),
        "pending": list(clip.pending),
        "sample_fps": clip.sample_fps,
    }


def clip_from_json(data: Mapping[str, Any], *, vectors: dict[str, np.ndarray] | None = None, thumbnail: str = "") -> Clip:
    """The clip `clip_json` gave `data` for; fields it lacks (JSON of older builds) take their defaults.
    Raises KeyError, TypeError or ValueError when `data` is not a clip."""
    return Clip(
        clip_id=str(data["clip_id"]),
        stream_id=str(data["stream_id"]),
        start_s=float(data["start_s"]),
        end_s=float(data["end_s"]),
        profile=str(data["profile"]),
        transcript=str(data.get("transcript", "")),
        ocr_text=str(data.get("ocr_text", "")),
        tags=tuple(str(t) for t in data.get("tags", ())),
        words=tuple(Word(*_span(w)) for w in data.get("words", ())),
        ocr_lines=tuple(OcrLine(*_span(o)) for o in data.get("ocr_lines", ())),
        frame_times=tuple(float(t) for t in data.get("frame_times", ())),
        vectors=vectors or {},
        thumbnail=thumbnail,
        expected=tuple(str(m) for m in data.get("expected", ())),
        pending=tuple(str(m) for m in data.get("pending", ())),
        sample_fps=float(data.get("sample_fps", 0.0)),
    )


def span_json(start_s: float, end_s: float, text: str) -> dict[str, Any]:
    return {"start_s": start_s, "end_s": end_s, "text": text}


def _span(data: Mapping[str, Any]) -> tuple[float, float, str]:
    return float(data["start_s"]), float(data["end_s"]), str(data["text"])
