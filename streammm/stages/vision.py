"""Vision stage: sampled frames to tags and vectors in the joint space."""

from __future__ import annotations

from collections.abc import Sequence

from streammm.models.base import ImageEncoder
from streammm.records import Frame, FrameObservation


def observe_frames(frames: Sequence[Frame], encoder: ImageEncoder) -> list[FrameObservation]:
    if not frames:
        return []
    batch = encoder.encode([frame.image for frame in frames])
    return [
        FrameObservation(t_s=frame.t_s, tags=tags, vector=vector, shot_change=frame.shot_change)
        for frame, tags, vector in zip(frames, batch.tags, batch.vectors)
    ]
