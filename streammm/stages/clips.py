"""Clip building: an aligned window's evidence into a Clip with named vectors (visual, speech, ocr, joint).

A clip can be built in parts: the evidence of some modalities now, and of the others later (a modality
that was behind), merged into the stored clip under the same id. Every field belongs to one modality,
except the joint vector, which is recomputed from whichever modality vectors the clip has.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from streammm.models.base import TextEncoder, unit_rows
from streammm.records import Clip, IngestRun, OcrLine, clip_id, modality_order
from streammm.stages.align import Window
from streammm.stages.ocr import line_key

MAX_TAGS = 8


def fuse_vectors(vectors: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray | None:
    """Weighted sum of the modality vectors present, renormalised; None when none is present."""
    present = [(weights.get(name, 1.0), v) for name, v in vectors.items() if name != "joint"]
    if not present:
        return None
    total = sum(w * v for w, v in present)
    return unit_rows(np.asarray(total))[0]


def build_clip(
    window: Window,
    *,
    profile: str,
    text_encoder: TextEncoder,
    weights: dict[str, float],
    modalities: frozenset[str] | None = None,
    run: IngestRun | None = None,
    base: Clip | None = None,
) -> Clip:
    """The clip of `window`, with the evidence of `modalities` (default: every one the run expects) taken
    from the window and every other field from `base` (the stored clip of the same run, if any).

    `pending` is what the run expects and neither the window's `modalities` nor `base` had."""
    run = run or IngestRun()
    expected = run.expected
    taken = expected if modalities is None else frozenset(modalities) & expected
    identity = clip_id(window.stream_id, window.start_s, profile)
    clip = base or Clip(identity, window.stream_id, window.start_s, window.end_s, profile)
    vectors = {name: v for name, v in clip.vectors.items() if name != "joint" and name not in taken}
    texts: dict[str, str] = {}
    if "visual" in taken:
        tags = Counter(tag for f in window.frames for tag in f.tags)
        frame_vectors = np.asarray([f.vector for f in window.frames], dtype=np.float32) if window.frames else None
        clip = replace(
            clip,
            tags=tuple(tag for tag, _ in tags.most_common(MAX_TAGS)),
            frame_times=tuple(f.t_s for f in window.frames),
            thumbnail=f"{identity}.jpg" if window.thumbnail else "",
            sample_fps=min((f.sample_fps for f in window.frames if f.sample_fps > 0), default=0.0),
            frame_vectors=frame_vectors,
            shot_times=tuple(t for f in window.frames if (t := f.shot_start_s) is not None),
        )
        if frame_vectors is not None:
            vectors["visual"] = unit_rows(frame_vectors.mean(axis=0))[0]
    if "speech" in taken:
        clip = replace(clip, transcript=" ".join(w.text for w in window.words), words=window.words)
        texts["speech"] = clip.transcript
    if "ocr" in taken:
        ocr_lines = _distinct(window.ocr)
        # Text that appears during the window is what the viewer is being shown; text that was already
        # there (menus, clocks, labels) is background. New lines are indexed twice.
        appearing = [o.text for o in ocr_lines if o.start_s > window.start_s]
        clip = replace(clip, ocr_lines=ocr_lines, ocr_text="\n".join([o.text for o in ocr_lines] + appearing))
        texts["ocr"] = clip.ocr_text
    wanted = sorted({t for t in texts.values() if t})
    if wanted:
        encoded = dict(zip(wanted, text_encoder.encode(wanted)))
        vectors.update({name: encoded[text] for name, text in texts.items() if text})
    joint = fuse_vectors(vectors, weights)
    if joint is not None:
        vectors["joint"] = joint
    still_pending = (set(base.pending) if base is not None else set(expected)) - taken
    return replace(
        clip,
        clip_id=identity,
        start_s=window.start_s,
        end_s=window.end_s,
        profile=profile,
        vectors={name: vectors[name] for name in ("visual", "speech", "ocr", "joint") if name in vectors},
        expected=modality_order(expected),
        pending=modality_order(still_pending & expected),
        run_started_at=run.started_at,
    )


def _distinct(lines: tuple[OcrLine, ...]) -> tuple[OcrLine, ...]:
    """One entry per line on screen: the same words shown in two places count twice."""
    out: list[OcrLine] = []
    for line in sorted(lines, key=lambda o: (o.start_s, o.text)):
        same = next((i for i, o in enumerate(out) if line_key(o.text) == line_key(line.text) and o.same_place(line)), None)
        if same is None:
            out.append(line)
        elif line.pressed:
            out[same] = replace(out[same], pressed=out[same].pressed_with(line))  # each time it was pressed in the window
    return tuple(out)
