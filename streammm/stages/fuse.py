"""Fuse stage: an aligned window into a Clip with named vectors (visual, speech, ocr, joint)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from streammm.models.base import TextEncoder, unit_rows
from streammm.records import Clip, OcrLine
from streammm.stages.align import Window
from streammm.stages.ocr import line_key
from streammm.store.base import clip_id

MAX_TAGS = 8


def fuse_vectors(vectors: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray | None:
    """Weighted sum of the modality vectors present, renormalised; None when none is present."""
    present = [(weights.get(name, 1.0), v) for name, v in vectors.items() if name != "joint"]
    if not present:
        return None
    total = sum(w * v for w, v in present)
    return unit_rows(np.asarray(total))[0]


def build_clip(window: Window, *, profile: str, text_encoder: TextEncoder, weights: dict[str, float]) -> Clip:
    transcript = " ".join(w.text for w in window.words)
    ocr_lines = _distinct(window.ocr)
    # Text that appears during the window is what the viewer is being shown; text that was already
    # there (menus, clocks, labels) is background. New lines are indexed twice.
    appearing = [o.text for o in ocr_lines if o.start_s > window.start_s]
    ocr_text = "\n".join([o.text for o in ocr_lines] + appearing)
    vectors: dict[str, np.ndarray] = {}
    if window.frames:
        vectors["visual"] = unit_rows(np.mean([f.vector for f in window.frames], axis=0))[0]
    texts = [t for t in (transcript, ocr_text) if t]
    if texts:
        encoded = dict(zip(texts, text_encoder.encode(texts)))
        if transcript:
            vectors["speech"] = encoded[transcript]
        if ocr_text:
            vectors["ocr"] = encoded[ocr_text]
    joint = fuse_vectors(vectors, weights)
    if joint is not None:
        vectors["joint"] = joint
    identity = clip_id(window.stream_id, window.start_s, profile)
    tags = Counter(tag for f in window.frames for tag in f.tags)
    return Clip(
        clip_id=identity,
        stream_id=window.stream_id,
        start_s=window.start_s,
        end_s=window.end_s,
        profile=profile,
        transcript=transcript,
        ocr_text=ocr_text,
        tags=tuple(tag for tag, _ in tags.most_common(MAX_TAGS)),
        words=window.words,
        ocr_lines=ocr_lines,
        frame_times=tuple(f.t_s for f in window.frames),
        vectors=vectors,
        thumbnail=f"{identity}.jpg" if window.thumbnail else "",
    )


def _distinct(lines: tuple[OcrLine, ...]) -> tuple[OcrLine, ...]:
    """One entry per line on screen: the same words shown in two places count twice."""
    out: list[OcrLine] = []
    for line in sorted(lines, key=lambda o: (o.start_s, o.text)):
        if not any(line_key(o.text) == line_key(line.text) and o.same_place(line) for o in out):
            out.append(line)
    return tuple(out)
