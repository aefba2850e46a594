"""When a text line came and went, to the frame: its picture followed through the strip pictures.

Frames are sampled a few times a second, but the decoder hands each sampled frame the small grey pictures
of every frame it stands for (Frame.strip). A line read on a sampled frame is followed back through the
pictures before it to the first frame of the run that shows it (`came_at`); a line no longer read is
followed forward to the first frame that no longer shows it (`went_at`). The picture is looked for a few
pixels around where it was last found (line_pictures.where_shown), so a window that moves or credits that
scroll are followed. Pure functions of numpy pixels; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from streammm.models.base import Box, TextBox
from streammm.stages.line_pictures import TrackedLine, crop_padded, picture, where_shown

MIN_STRIP_LINE_PX = 5  # a line lower than this in the strip pictures is not followed through them

Pictures = tuple[tuple[float, np.ndarray], ...]  # (t_s, grey picture) of consecutive frames, in time order


def came_at(box: Box, shape: tuple[int, int], pictures: Pictures, max_diff: float) -> float | None:
    """When the line in `box` (frame pixels of a frame of `shape`, height and width) on the last of
    `pictures` first showed: the first of the run of frames just before it that show its picture. None
    when the first picture (the frame read before) shows it too, or `pictures` cannot tell."""
    line = _strip_line(box, shape, pictures)
    backwards = pictures[::-1]
    gone = None if line is None else _first_not_shown(line, backwards[1:], max_diff)
    return None if gone is None else backwards[gone][0]  # the frame after the first that did not show it


def went_at(box: Box, shape: tuple[int, int], pictures: Pictures, max_diff: float, *, most: bool = False) -> float | None:
    """When the line in `box` on the first of `pictures` went: the first frame after it that no longer
    shows its picture (with `most`, most of it: see where_shown). None when the last picture (the frame
    being read) still shows it, or `pictures` cannot tell."""
    line = _strip_line(box, shape, pictures, first=True)
    gone = None if line is None else _first_not_shown(line, pictures[1:], max_diff, most=most)
    return None if gone is None else pictures[1 + gone][0]


def _first_not_shown(line: TrackedLine, pictures: Sequence[tuple[float, np.ndarray]], max_diff: float, *, most: bool = False) -> int | None:
    """The index of the first of `pictures` that does not show `line`, followed from one to the next where
    it moved; None when every one shows it."""
    for i, (_, grey) in enumerate(pictures):
        moved = where_shown(line, grey, line.line.box, max_diff, most=most)
        if moved is None:
            return i
        line = replace(line, line=replace(line.line, box=moved))
    return None


def _strip_line(box: Box, shape: tuple[int, int], pictures: Pictures, *, first: bool = False) -> TrackedLine | None:
    """The line in `box` as the last (or first) of `pictures` shows it, in that picture's pixels; None
    without two pictures, or where the line is too small there to tell its characters apart."""
    if len(pictures) < 2:
        return None
    grey = pictures[0][1] if first else pictures[-1][1]
    sy, sx = grey.shape[0] / shape[0], grey.shape[1] / shape[1]
    scaled = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    if scaled[3] - scaled[1] < MIN_STRIP_LINE_PX:
        return None
    # Blurred with the pixels around it, as where_shown blurs what it compares it with: a small line's
    # edge pixels would differ otherwise.
    x0, y0, x1, y1 = int(scaled[0]), int(scaled[1]), int(np.ceil(scaled[2])), int(np.ceil(scaled[3]))
    around = crop_padded(grey, (x0 - 1, y0 - 1, x1 + 1, y1 + 1))
    line = picture(around, (0, 0, around.shape[1], around.shape[0]))[1:-1, 1:-1]
    return TrackedLine(TextBox("", 0.0, (x0, y0, x1, y1)), line) if line.size else None
