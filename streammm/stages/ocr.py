"""OCR stage: frames to spans of on-screen text, re-reading only what changed.

The change gate compares each frame with the last one read, on a grid of cells. Text lines are
horizontal, so the rows of cells that changed are re-read as full-width bands; lines elsewhere are
carried over unread. The same line seen on consecutive frames becomes one {start_s, end_s, text} span.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from streammm.config import OcrConfig
from streammm.models.base import OcrEngine, TextBox
from streammm.records import Frame, OcrLine

CELL_PX = 8


@dataclass(frozen=True)
class OpenSpan:
    start_s: float
    last_seen_s: float
    text: str
    score: float
    x: float
    y: float

    def line(self, end_s: float) -> OcrLine:
        return OcrLine(self.start_s, end_s, self.text, self.score, self.x, self.y)


@dataclass(frozen=True, eq=False)
class OcrState:
    reference: np.ndarray | None = None  # grey thumbnail of what the current lines were read from
    lines: tuple[TextBox, ...] = ()
    spans: tuple[OpenSpan, ...] = ()
    frame_size: tuple[int, int] = (1, 1)  # (width, height) of the frames the lines were read from
    frames: int = 0
    frames_read: int = 0
    area_read: float = 0.0  # in frames: 1.0 = one whole frame read


def read_step(
    state: OcrState, frames: list[Frame], engine: OcrEngine, options: OcrConfig
) -> tuple[OcrState, list[OcrLine]]:
    """Read `frames` (in time order); return the state and the spans that closed."""
    closed: list[OcrLine] = []
    for frame in frames:
        state = _read_frame(state, frame, engine, options)
        state, ended = _update_spans(state, frame.t_s)
        closed += ended
    return state, closed


def finish(state: OcrState, end_s: float, hold_s: float) -> list[OcrLine]:
    """Close the spans still open at the end of the stream; each lasts `hold_s` past its last sighting."""
    return [s.line(round(min(end_s, s.last_seen_s + hold_s), 3) if end_s > s.start_s else s.start_s) for s in state.spans]


def line_key(text: str) -> str:
    """Lines are the same when they read the same, ignoring case and spacing."""
    return "".join(text.lower().split())


def changed_bands(reference: np.ndarray | None, thumb: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Row ranges of cells [first, last) whose content changed, each padded by one row; all if no reference."""
    rows = thumb.shape[0] // CELL_PX
    if reference is None or reference.shape != thumb.shape:
        return [(0, rows)]
    diff = np.abs(thumb.astype(np.int16) - reference.astype(np.int16))
    cells = diff.reshape(rows, CELL_PX, -1, CELL_PX).mean(axis=(1, 3))
    changed = np.flatnonzero(cells.max(axis=1) > threshold)
    bands: list[tuple[int, int]] = []
    for row in changed:
        first, last = max(0, row - 1), min(rows, row + 2)
        if bands and first <= bands[-1][1]:
            bands[-1] = (bands[-1][0], max(bands[-1][1], last))
        else:
            bands.append((first, last))
    return bands


def thumbnail(image: np.ndarray, grid: int) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (grid * CELL_PX, grid * CELL_PX), interpolation=cv2.INTER_AREA)


def _read_frame(state: OcrState, frame: Frame, engine: OcrEngine, options: OcrConfig) -> OcrState:
    thumb = thumbnail(frame.image, options.gate_grid)
    reference = None if frame.shot_change else state.reference
    bands = changed_bands(reference, thumb, options.gate_threshold)
    state = replace(state, frames=state.frames + 1)
    if not bands:
        return state
    height = frame.image.shape[0]
    row_px = height / options.gate_grid
    lines = list(state.lines) if reference is not None else []
    new_reference = thumb.copy() if reference is None else reference.copy()
    area = 0.0
    for first, last in bands:
        y0, y1 = int(first * row_px), min(height, int(np.ceil(last * row_px)))
        inside = lambda box: y0 <= (box.box[1] + box.box[3]) / 2 < y1  # noqa: E731
        lines = [line for line in lines if not inside(line)]
        for found in engine.read(frame.image[y0:y1]):
            x0, top, x1, bottom = found.box
            moved = TextBox(found.text, found.score, (x0, top + y0, x1, bottom + y0))
            if inside(moved):  # bands are padded by a row of cells, so a line's middle band reads it whole
                lines.append(moved)
        new_reference[first * CELL_PX : last * CELL_PX] = thumb[first * CELL_PX : last * CELL_PX]
        area += (y1 - y0) / height
    lines.sort(key=lambda b: (b.box[1], b.box[0]))
    return replace(
        state,
        frame_size=(frame.image.shape[1], frame.image.shape[0]),
        reference=new_reference,
        lines=tuple(lines),
        frames_read=state.frames_read + 1,
        area_read=state.area_read + area,
    )



def _update_spans(state: OcrState, t_s: float) -> tuple[OcrState, list[OcrLine]]:
    """Continue the span of each visible line seen in the same place last time; open or close the rest."""
    width, height = state.frame_size
    open_spans = list(state.spans)
    continued: list[OpenSpan] = []
    for line in state.lines:
        x0, y0, x1, y1 = line.box
        seen = OcrLine(t_s, t_s, line.text, round(line.score, 4), round((x0 + x1) / 2 / width, 3), round((y0 + y1) / 2 / height, 3))
        match = next(
            (s for s in open_spans if line_key(s.text) == line_key(seen.text) and s.line(t_s).same_place(seen)), None
        )
        if match is not None:
            open_spans.remove(match)
            continued.append(replace(match, last_seen_s=t_s))
        elif not any(line_key(c.text) == line_key(seen.text) and c.line(t_s).same_place(seen) for c in continued):
            continued.append(OpenSpan(t_s, t_s, seen.text, seen.score, seen.x, seen.y))
    closed = [span.line(t_s) for span in open_spans]
    return replace(state, spans=tuple(continued)), closed
