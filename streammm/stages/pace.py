"""Pace: how densely the frame stages sample a paced stream, from how long its segments waited.

A paced stream (a live source, or a file published at wall-clock pace) whose segments wait for a frame
worker is behind, and each second it stays behind makes every later clip staler. Rather than fall
further behind, its frames are *thinned*: sampled at `media.overload_sample_fps`, which costs the
vision and OCR stages proportionally less. The rate is recorded on every frame (and so on every clip)
it applies to, and goes back to `media.sample_fps` once a segment waits less than half the threshold
(the gap between the two keeps one slow segment from flapping the rate). A batch of files is never
thinned: nothing of it is worth less for being late.
"""

from __future__ import annotations

from streammm.config import MediaConfig


def sample_fps(waited_s: float, *, thinned: bool, paced: bool, options: MediaConfig) -> float:
    """The rate to sample a segment at that waited `waited_s` (wall s since it was published) for its
    frame worker; `thinned`: whether the stream's previous segment was thinned."""
    normal = options.sample_fps
    low = min(options.overload_sample_fps, normal)
    if not paced or options.overload_lag_s <= 0:
        return normal
    if waited_s >= options.overload_lag_s or (thinned and waited_s > options.overload_lag_s / 2):
        return low
    return normal
