"""A text line's picture, and where a later frame shows it again.

The OCR stage keeps each line's box in grey, slightly blurred (`picture`), so that a box on a later frame
that shows the same picture keeps the line's text instead of being read again, and so that a line can be
followed through the strip pictures of the frames between two samples (stages/line_edges.py). Pure
functions of numpy pixels; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streammm.models.base import Box, TextBox, crop_box

SEARCH_PX = 4  # a known line is looked for this many pixels around the place its box moved it to
CLEARER = 1.5  # a line whose contrast grew this much (it was read fading in) is read again
MIN_CONTRAST = 24  # grey levels: a picture with less range is not stretched to the full range


@dataclass(frozen=True, eq=False)
class TrackedLine:
    """A line box and its picture, to tell whether a box on a later frame shows the same line.

    `line.text` is "" for a fragment: not a line worth keeping, remembered so it is not recognised again.
    """

    line: TextBox
    picture: np.ndarray  # the box in grey, slightly blurred (see picture())



def picture(image: np.ndarray, box: Box) -> np.ndarray:
    """The box in grey, slightly blurred (so that compression noise and half-pixel moves count little)."""
    import cv2

    pixels = crop_box(image, box)
    if pixels.size == 0:
        return np.zeros((0, 0), dtype=np.float32)
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    return cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32)


def looks_same(known: TrackedLine, image: np.ndarray, box: Box, max_diff: float) -> bool:
    """Whether `box` in `image` shows what `known` showed (see where_shown)."""
    return where_shown(known, image, box, max_diff) is not None


def where_shown(known: TrackedLine, image: np.ndarray, box: Box, max_diff: float, *, most: bool = False) -> Box | None:
    """Where in `image` the picture of `known` shows, if it does: it is searched for a few pixels around
    where `box` moved it to, and compared with contrast stretched (fades and backgrounds do not count),
    one character-wide block at a time: every block must match (one changed digit counts), or with
    `most`, half of them (a mouse pointer over a character, or a button pressed under the text, leaves
    the line shown; the stretch then ignores the darkest and lightest few pixels, a pointer's)."""
    import cv2

    old, before = known.line.box, known.picture
    if before.size == 0:
        return None
    dx, dy = round((box[0] + box[2] - old[0] - old[2]) / 2), round((box[1] + box[3] - old[1] - old[3]) / 2)
    x0, y0 = int(old[0]) + dx - SEARCH_PX, int(old[1]) + dy - SEARCH_PX
    region = (x0, y0, x0 + before.shape[1] + 2 * SEARCH_PX, y0 + before.shape[0] + 2 * SEARCH_PX)
    around = picture(crop_padded(image, region), (0, 0, region[2] - x0, region[3] - y0))
    scores = cv2.matchTemplate(around, before, cv2.TM_SQDIFF)
    y, x = np.unravel_index(int(np.argmin(scores)), scores.shape)
    now = around[y : y + before.shape[0], x : x + before.shape[1]]
    if most:
        blocks = _block_means(np.abs(_stretch(now, robust=True) - _stretch(before, robust=True)))
        if float(np.median(blocks)) > max_diff:
            return None
    elif np.ptp(now) > CLEARER * max(float(np.ptp(before)), MIN_CONTRAST):
        return None  # it was read fading in: read it again now that it is clearer
    elif _worst_block(np.abs(_stretch(now) - _stretch(before))) > max_diff:
        return None
    return (float(x0 + x), float(y0 + y), float(x0 + x + before.shape[1]), float(y0 + y + before.shape[0]))


def crop_padded(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels of `box`, the parts outside the image filled with its edge."""
    x0, y0, x1, y1 = box
    height, width = image.shape[:2]
    inside = image[max(0, y0) : max(0, min(height, y1)), max(0, x0) : max(0, min(width, x1))]
    if inside.size == 0:
        return np.zeros((y1 - y0, x1 - x0) + image.shape[2:], dtype=image.dtype)
    pad = ((max(0, -y0), max(0, y1 - height)), (max(0, -x0), max(0, x1 - width))) + ((0, 0),) * (image.ndim - 2)
    return np.pad(inside, pad, mode="edge")


def _stretch(picture: np.ndarray, *, robust: bool = False) -> np.ndarray:
    """Contrast stretched to 0-255 (not beyond MIN_CONTRAST); `robust`: between the 3rd and 97th
    percentiles, clipped."""
    low, high = (np.percentile(picture, (3, 97)) if robust else (picture.min(), picture.max()))
    stretched = (picture - float(low)) * (255.0 / max(float(high) - float(low), MIN_CONTRAST))
    return np.clip(stretched, 0, 255) if robust else stretched


def _worst_block(diff: np.ndarray) -> float:
    """The largest mean over blocks of columns about a character wide (half the line's height): one
    changed digit in a long line counts in full."""
    return float(_block_means(diff).max())


def _block_means(diff: np.ndarray) -> np.ndarray:
    """The mean of each block of columns about a character wide (half the line's height)."""
    starts = np.arange(0, diff.shape[1], max(1, diff.shape[0] // 2))
    sums = np.add.reduceat(diff.sum(axis=0), starts)
    widths = np.diff(np.append(starts, diff.shape[1]))
    return sums / (widths * diff.shape[0])
