"""The sample grid: the instants a stream is sampled at (multiples of 1/rate on the stream's timeline) and
the frames on screen at them. Pure functions; no decoding."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from streammm.config import MediaConfig

# A frame, or a segment's start, this little after a sample instant is on it: segment edges computed from a
# live source's timestamps land microseconds off the grid (15.00001 s), and the instant must not fall
# between two segments (the previous one takes instants up to its end less this, the next the rest).
ON_INSTANT_S = 1e-4


def plan_frames(starts: np.ndarray, options: MediaConfig) -> list[tuple[int, str]]:
    """Which frame indices to decode: ("grid", index) at each sample instant, ("probe", index) for cuts."""
    if len(starts) == 0:
        return []
    first, last = float(starts[0]), float(starts[-1])
    wanted: dict[int, str] = {}
    for t in instants(first, last, options.sample_fps):
        wanted[frame_at(starts, t)] = "grid"
    if options.shot_detect_fps > 0:
        for t in instants(first, last, options.shot_detect_fps):
            wanted.setdefault(frame_at(starts, t), "probe")
    return sorted(wanted.items())


def instants(first: float, last: float, rate: float) -> Iterator[float]:
    k = math.ceil((first - ON_INSTANT_S) * rate)
    while k / rate <= last + 1e-6:
        yield k / rate
        k += 1


def frame_at(starts: np.ndarray, t: float) -> int:
    """Index of the frame on screen at time t (the last one that started at or before t)."""
    return max(0, int(np.searchsorted(starts, t + ON_INSTANT_S, side="right")) - 1)


def even_px(value: float) -> int:
    """A picture size in pixels as encoders and scalers want it: even, at least 2."""
    return max(2, int(value) // 2 * 2)
