"""Vision stage: sampled frames to tags and vectors in the joint space.

A frame that shows the same picture as the frame before it in the batch (a slide, a still camera, a
paused screencast) takes that frame's tags and vector instead of running the models again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streammm.media.frames import grey_thumbnail
from streammm.models.base import ImageEncoder
from streammm.records import Frame, FrameObservation

SAME_GRID = 16  # frames are compared as grids of SAME_GRID x SAME_GRID cells of mean grey


def observe_frames(frames: Sequence[Frame], encoder: ImageEncoder, same_diff: float = 0.0) -> list[FrameObservation]:
    """The observation of each frame, in order. A frame (not a shot change) whose every cell differs by at
    most `same_diff` grey levels from the frame whose observation the frame before it has (not merely from
    the frame before it: a slow fade or pan must not drift away from what was encoded) reuses that
    observation; 0 never reuses."""
    if not frames:
        return []
    shown = [0]  # the index of the frame each frame's picture is encoded from
    if same_diff > 0:
        grids = [grey_thumbnail(frame.image, SAME_GRID).astype(np.float32) for frame in frames]
        for i in range(1, len(frames)):
            same = not frames[i].shot_change and float(np.abs(grids[i] - grids[shown[-1]]).max()) <= same_diff
            shown.append(shown[-1] if same else i)
    else:
        shown = list(range(len(frames)))
    encoded = sorted(set(shown))
    batch = encoder.encode([frames[i].image for i in encoded])
    by_frame = {i: (tags, vector) for i, tags, vector in zip(encoded, batch.tags, batch.vectors)}
    return [
        FrameObservation(t_s=frame.t_s, tags=by_frame[source][0], vector=by_frame[source][1], shot_change=frame.shot_change, cut_s=frame.cut_s)
        for frame, source in zip(frames, shown)
    ]

