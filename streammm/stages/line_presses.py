"""When a line on screen was pressed: the row of a check box or a button darkens or lights up for a moment while
its text stays (a click), then looks as it did, or goes (the dialog the button closed). The OCR stage keeps the
text; this follows each line's look, the mean grey of its box, through the strip pictures of every frame
between two samples (Frame.strip), so a press of a quarter of a second between samples a second apart is seen.
A mouse pointer over a line moves that mean a few levels; a press, tens.

A press is kept as the step that made it: from where the screen last changed other than by a mouse pointer
moving (the step before it ended: a dialog opened, a window dropped), at most APPROACH_S before the press, to
the press's end. That is what a viewer seeks to: the screen the press acted on and the pointer's way to what it
pressed, then the press; a step a tutorial's caption times the same way ("check the Mirror displays box",
25-29 s, around a tick at 27.87 s after the pointer set out at 26.2 s and the drag before dropped at 24.6 s).
A look that changed as the whole screen was laid out anew is no press. Pure functions of numpy pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streammm.models.base import Box

PRESS_LEVELS = 20.0  # grey levels a box's mean must move from one frame to the next for its line to count as pressed
BACK_LEVELS = 10.0  # ... and be back within, for the press to have ended
MAX_PRESS_S = 2.0  # a look held longer is a new look (a button greyed out, a row selected), not a press
APPROACH_S = 3.0  # a press's step begins at most this long before it: a pointer takes a second or two to get there
CHANGED_LEVELS = 12  # grey levels a pixel must move from one frame to the next to count as changed
POINTER_PX = 1200  # frame pixels a mouse pointer moving changes at most: two places of a pointer up to 24 px a side
POINTER_SHARE = 0.0016  # ... or this share of the frame, where that is more (a larger screen draws a larger pointer)
CONTROL_LINES = 8  # a press changes its control (a row, a button, a tile it labels), at most this many of its line's heights tall

Press = tuple[float, float]  # (when the line's look changed, when it was back or the line went)
Change = tuple[float, float, float]  # (t_s, top, bottom): a picture in which the screen changed, and the rows it changed in (frame pixels)


@dataclass(frozen=True)
class Look:
    """A line's look as last seen: the mean grey of its box; while pressed, since when and the mean then."""

    mean: float
    pressed_since: float | None = None
    pressed_mean: float = 0.0


def screen_changes(pictures: Sequence[tuple[float, np.ndarray]], shape: tuple[int, int]) -> list[Change]:
    """The `pictures` ((t_s, grey), in time order, of frames of `shape`: height, width) in which more of the screen
    changed from the picture before than a mouse pointer moving does (POINTER_PX, POINTER_SHARE, in frame pixels),
    each with the rows it changed in; every other pixel is compared."""
    pointer_px = max(POINTER_PX, POINTER_SHARE * shape[0] * shape[1])
    changes: list[Change] = []
    for (_, before), (t_s, now) in zip(pictures, pictures[1:]):
        a, b = before[::2, ::2], now[::2, ::2]
        if a.shape != b.shape:
            changes.append((t_s, 0.0, float(shape[0])))
            continue
        changed = np.abs(a.astype(np.int16) - b) > CHANGED_LEVELS
        if np.count_nonzero(changed) * shape[0] * shape[1] / a.size > pointer_px:
            rows = np.flatnonzero(changed.any(axis=1))
            scale = shape[0] / a.shape[0]
            changes.append((t_s, float(rows[0] * scale), float((rows[-1] + 1) * scale)))
    return changes


def step_start(onset_s: float, changes: Sequence[Change], since_s: float) -> float:
    """Where the step of a press that began at `onset_s` began: the last of the screen's `changes` (in order)
    before it, at most APPROACH_S before it, and not before `since_s` (where the line and the pictures were first
    seen)."""
    before = [t for t, _, _ in changes if t < onset_s - 1e-6]
    return max(onset_s - APPROACH_S, before[-1] if before else since_s, since_s)


def relaid_out(onset_s: float, box: Box, changes: Sequence[Change]) -> bool:
    """Whether what looked like a press of the line in `box` (frame pixels) began as the screen was laid out anew:
    the screen changed, at its onset, over more than CONTROL_LINES of the line's heights (a panel redrawn as a
    monitor was switched on moves every row's mean), not only over its control."""
    height = max(1.0, box[3] - box[1])
    return any(abs(t - onset_s) < 1e-6 and bottom - top > CONTROL_LINES * height for t, top, bottom in changes)


def box_mean(box: Box, shape: tuple[int, int], grey: np.ndarray) -> float | None:
    """The mean grey of `box` (frame pixels of a frame of `shape`, height and width) in a strip picture; None
    where the box is not in it."""
    sy, sx = grey.shape[0] / shape[0], grey.shape[1] / shape[1]
    x0, y0 = max(0, int(box[0] * sx)), max(0, int(box[1] * sy))
    x1, y1 = min(grey.shape[1], int(np.ceil(box[2] * sx))), min(grey.shape[0], int(np.ceil(box[3] * sy)))
    if x1 <= x0 or y1 <= y0:
        return None
    return float(grey[y0:y1, x0:x1].mean())


def follow(
    look: Look | None, box: Box, shape: tuple[int, int], pictures: Sequence[tuple[float, np.ndarray]], *, until_s: float = np.inf
) -> tuple[Look | None, list[Press]]:
    """`look` (None: not seen yet) followed through `pictures` ((t_s, grey), in time order) of a line in `box`:
    its look after them, and the presses that ended in them. A press begins where the mean moves PRESS_LEVELS
    from one frame to the next (before `until_s`, where the line went: its going is no press, however its place
    changes after), and ends where it is back within BACK_LEVELS of where it was before, or moves PRESS_LEVELS
    again (the dialog the button closed went); one that does neither within MAX_PRESS_S is the line's new
    look. (A button whose press made OCR lose its line, as it closed its dialog, is not seen pressed: from the
    mean alone, a press as the line goes looks like its going.)"""
    presses: list[Press] = []
    for t_s, grey in pictures:
        mean = box_mean(box, shape, grey)
        if mean is None:
            continue
        if look is None:
            look = Look(mean)
        elif look.pressed_since is None:
            onset = abs(mean - look.mean) > PRESS_LEVELS and t_s < until_s
            look = Look(look.mean, t_s, mean) if onset else Look(mean)
        elif abs(mean - look.mean) <= BACK_LEVELS or abs(mean - look.pressed_mean) > PRESS_LEVELS:
            if t_s - look.pressed_since <= MAX_PRESS_S:
                presses.append((look.pressed_since, t_s))
            look = Look(mean)
        elif t_s - look.pressed_since > MAX_PRESS_S:
            look = Look(mean)
    return look, presses
