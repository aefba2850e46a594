"""Shot changes: whether the picture changed at once between two probes, and when a change happened.

Two kinds of change count as a cut:

- **the whole picture**: half the L1 distance between the two frames' colour histograms (0 = same, 1 =
  disjoint) is over `media.shot_threshold` (an edit from one shot to another);
- **a part replaced on a still picture**: at least REPLACED_SHARE of a REGIONS x REGIONS grid of the picture
  changes its colours (region distance over REGION_CHANGED) while most of it does not move at all (the median
  region's distance at most STILL_REGION). A slide's photo swapped on a constant canvas, a lecture deck's
  next slide under the same title bar, a picture-in-picture source switched: the whole-picture histogram moves
  by a fraction of the threshold there (measured on the held-out slides: 0.23-0.25 against 0.35), yet the
  change is as sudden as a cut. A camera that pans or a person who moves changes every region a little
  (median 0.15-0.6 on the dev footage) and is not a cut.

Pure functions of decoded pictures; no I/O.
"""

from __future__ import annotations

import numpy as np

REGIONS = 4  # the picture is compared as REGIONS x REGIONS parts as well as whole
REGION_CHANGED = 0.5  # a part whose histogram distance is over this shows something else
REPLACED_SHARE = 0.18  # this share of the parts (3 of 16) showing something else ...
STILL_REGION = 0.05  # ... while the median part moved at most this much, is a cut
_WHOLE_SIZE = (64, 36)  # the whole picture is compared at this size (width, height) ...
_PARTS_SIZE = (128, 72)  # ... its parts at this one: enough for colours, cheap at 4 probes a second
_BINS = (8, 4, 4)  # hue, saturation, value


def colour_histograms(image: np.ndarray) -> np.ndarray:
    """The picture's HSV colour histogram (row 0) and each of its REGIONS x REGIONS parts' (rows 1..,
    row-major), each row normalised to sum 1. What is_cut compares."""
    import cv2

    whole = _histograms(cv2.resize(image, _WHOLE_SIZE, interpolation=cv2.INTER_AREA), 1)
    parts = _histograms(cv2.resize(image, _PARTS_SIZE, interpolation=cv2.INTER_AREA), REGIONS)
    return np.vstack([whole, parts])


def _histograms(small: np.ndarray, regions: int) -> np.ndarray:
    """Normalised HSV histograms (_BINS, as cv2.calcHist bins them) of `regions` x `regions` parts of `small`."""
    import cv2

    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.int32)  # H in [0, 180), S and V in [0, 256)
    hue, sat, val = _BINS
    colour = (hsv[..., 0] * hue // 180) * (sat * val) + (hsv[..., 1] * sat // 256) * val + hsv[..., 2] * val // 256
    height, width = colour.shape
    region = (np.arange(height)[:, None] * regions // height) * regions + np.arange(width)[None, :] * regions // width
    bins = hue * sat * val
    counts = np.bincount((region * bins + colour).ravel(), minlength=regions * regions * bins).reshape(regions * regions, bins)
    counts = counts.astype(np.float32)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)


def is_cut(hist: np.ndarray | None, previous: np.ndarray | None, threshold: float) -> bool:
    """Whether the picture changed at once between two probes' colour_histograms (see the module docstring):
    the whole picture's distance over `threshold`, or a part replaced while the rest stayed still."""
    if hist is None or previous is None or hist.shape != previous.shape:
        return False
    distances = 0.5 * np.abs(hist - previous).sum(axis=1)
    if float(distances[0]) > threshold:
        return True
    regions = distances[1:]
    return bool(np.mean(regions > REGION_CHANGED) >= REPLACED_SHARE and float(np.median(regions)) <= STILL_REGION)


def change_time(before_s: float | None, after_s: float, *, cut: bool) -> float:
    """When what the frame at `after_s` shows first (or no longer) came (or went), given that the sampled
    frame before it, at `before_s`, did not (or did) show it: at `after_s` where a shot starts there (the
    cut is when) or no frame came before, else halfway (the best guess; the later frame alone would be
    half a sample interval late on average)."""
    if before_s is None or cut:
        return after_s
    return round((before_s + after_s) / 2, 3)
