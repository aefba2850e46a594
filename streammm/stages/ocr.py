"""OCR stage: frames to spans of on-screen text, recognising only the text that is new.

The change gate compares each frame with the last one read, on a grid of cells. Text lines are
horizontal, so the rows of cells that changed are searched again as full-width bands; lines elsewhere
are carried over, except a line over a block (a sixteenth of a cell, about a character) that changed
and whose picture did: a counter or clock that ticked is recognised again in its box. In a band the
engine's detector finds the line boxes; a box that shows the same picture as a line already known (in
the same place, or moved with its window) keeps that line's text, and so does a box that only groups
known words another way (the detector is not stable from frame to frame); only the rest are recognised,
in one batch per frame. Boxes too small to be legible, and readings that are fragments (one character,
no letters or digits, a low score), are dropped; a fragment's box is remembered so that it is not
recognised again while it stays the same. The same line seen on consecutive frames becomes one
{start_s, end_s, text} span.

A line appears or goes somewhere between two sampled frames. Where the frames carry their strips (the
small grey pictures of every decoded frame in between, Frame.strip), the line's picture is followed
through them, frame by frame (moving with its window, or scrolling; stages/line_edges.py): the span
starts at the first frame of the run that shows it, and ends at the first frame that no longer does, to
the frame: any character changed where another line replaced it (a counter ticked, a word was typed),
most of it gone where nothing did (a mouse pointer passing over a line, or a button pressed under it, is
not its end). A line whose own place looks the same after a word was typed beside it ends where its
successor starts. Without strips, or where the pictures cannot tell (the line looked the same on the
frame before: it was there unread), the edge is put halfway between the two sampled frames (the best
guess, half a sample interval off at worst), or at the frame itself where a shot starts there (the cut
is when). A span still holds every frame that showed the line. Through the same pictures each line's look is
followed, and the moments its row darkened or lit up while its text stayed (a button or a check box pressed)
are kept with it, each as the step that made it: from where the screen last changed other than by a mouse
pointer moving (stages/line_presses.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from streammm.config import OcrConfig
from streammm.media.frames import grey_thumbnail
from streammm.media.shots import change_time
from streammm.models.base import Box, OcrEngine, TextBox, crop_box
from streammm.records import Frame, OcrLine
from streammm.stages.line_edges import Pictures, came_at, went_at
from streammm.stages.line_presses import APPROACH_S, MAX_PRESS_S, Change, Look, Press, follow, relaid_out, screen_changes, step_start
from streammm.stages.line_pictures import MIN_CONTRAST, TrackedLine, looks_same, picture

CELL_PX = 32  # thumbnail pixels a side of a gate cell (gate_grid cells a side)
BLOCK_PX = 8  # thumbnail pixels a side of a block: 4 x 4 a cell, each about a character of the frame
SHORT_TEXT_CHARS = 3  # readings of this many letters or digits or fewer need `min_score_short`
INK_SHARE = 0.5  # a column of a box whose grey range is over this share of the box's range holds ink


@dataclass(frozen=True)
class OpenSpan:
    start_s: float
    last_seen_s: float
    text: str
    score: float
    x: float
    y: float
    box: Box = (0.0, 0.0, 0.0, 0.0)  # where it was last seen, in frame pixels
    look: Look | None = None  # how it looked last (stages/line_presses.py); None: not followed through strips
    pressed: tuple[Press, ...] = ()

    def line(self, end_s: float) -> OcrLine:
        return OcrLine(self.start_s, end_s, self.text, self.score, self.x, self.y, pressed=self.pressed)


@dataclass(frozen=True, eq=False)
class OcrState:
    reference: np.ndarray | None = None  # grey thumbnail of what the current lines were read from
    lines: tuple[TextBox, ...] = ()  # the lines on screen now
    spans: tuple[OpenSpan, ...] = ()
    frame_size: tuple[int, int] = (1, 1)  # (width, height) of the frames the lines were read from
    frames: int = 0
    frames_read: int = 0
    area_read: float = 0.0  # in frames: 1.0 = one whole frame searched
    tracked: tuple[TrackedLine, ...] = ()  # the boxes the lines (and fragments) were read from
    recognized: int = 0  # line boxes recognised so far (the rest were known, or dropped unread)
    last_frame_s: float | None = None  # the time of the frame read before, None before the first
    strip: tuple[tuple[float, np.ndarray], ...] = ()  # the strip of the frame read before (Frame.strip)
    changes: tuple[Change, ...] = ()  # where the screen last changed other than by a pointer (line_presses.screen_changes)
    watched_since_s: float | None = None  # since when the strips have shown every frame; None: they do not now


def read_step(
    state: OcrState, frames: list[Frame], engine: OcrEngine, options: OcrConfig
) -> tuple[OcrState, list[OcrLine]]:
    """Read `frames` (in time order); return the state and the spans that closed."""
    closed: list[OcrLine] = []
    for frame in frames:
        state = _read_frame(state, frame, engine, options)
        state, ended = _update_spans(state, frame, options.same_line_diff)
        closed += ended
        state = replace(state, last_frame_s=frame.t_s, strip=frame.strip)
    return state, closed


def finish(state: OcrState, end_s: float, hold_s: float) -> list[OcrLine]:
    """Close the spans still open at the end of the stream; each lasts `hold_s` past its last sighting."""
    return [s.line(round(min(end_s, s.last_seen_s + hold_s), 3) if end_s > s.start_s else s.start_s) for s in state.spans]


def line_key(text: str) -> str:
    """Lines are the same when they read the same, ignoring case and spacing."""
    return "".join(text.lower().split())


def block_diffs(reference: np.ndarray | None, thumb: np.ndarray) -> np.ndarray | None:
    """The mean absolute grey difference of each block (about a character of the frame) from the
    reference; None without a comparable reference (everything is read)."""
    if reference is None or reference.shape != thumb.shape:
        return None
    diff = np.abs(thumb.astype(np.int16) - reference.astype(np.int16))
    return diff.reshape(thumb.shape[0] // BLOCK_PX, BLOCK_PX, -1, BLOCK_PX).mean(axis=(1, 3))


def changed_bands(blocks: np.ndarray | None, rows: int, threshold: float) -> list[tuple[int, int]]:
    """Row ranges of cells [first, last) whose mean changed (each padded by one row); all `rows` without
    `blocks` (see block_diffs)."""
    if blocks is None:
        return [(0, rows)]
    per_cell = CELL_PX // BLOCK_PX
    cells = blocks.reshape(rows, per_cell, -1, per_cell).mean(axis=(1, 3))
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
    return grey_thumbnail(image, grid * CELL_PX)


def legible(box: Box, options: OcrConfig) -> bool:
    """Whether a detected box is tall enough to read and wider than a single character."""
    width, height = box[2] - box[0], box[3] - box[1]
    return height >= options.min_text_px and width >= options.min_box_aspect * height


def worth_keeping(text: str, score: float, options: OcrConfig) -> bool:
    """A reading is a line, not a fragment: enough letters or digits, read with enough confidence."""
    chars = sum(c.isalnum() for c in text)
    if chars < options.min_chars or score < options.min_score:
        return False
    return chars > SHORT_TEXT_CHARS or score >= options.min_score_short


def _read_frame(state: OcrState, frame: Frame, engine: OcrEngine, options: OcrConfig) -> OcrState:
    thumb = thumbnail(frame.image, options.gate_grid)
    reference = None if frame.shot_change else state.reference
    blocks = block_diffs(reference, thumb)
    bands = changed_bands(blocks, options.gate_grid, options.gate_threshold)
    state = replace(state, frames=state.frames + 1)
    image = frame.image
    height = image.shape[0]
    row_px = height / options.gate_grid
    rows = [(int(first * row_px), min(height, int(np.ceil(last * row_px)))) for first, last in bands]
    kept = [t for t in state.tracked if not any(_centre_in(t.line.box, y0, y1) for y0, y1 in rows)]
    # A known line outside the bands over a block that changed is looked at again: read anew if its
    # picture changed (a counter that ticked), else kept. The reference keeps those blocks as they were,
    # so a change that builds up slowly there still reaches the bands' threshold.
    changed = blocks > options.gate_threshold if blocks is not None else None
    suspects = [t for t in kept if t.line.text and changed is not None and _over(t.line.box, changed, image.shape)]
    altered = [t for t in suspects if not looks_same(t, image, t.line.box, options.same_line_diff)]
    if not bands and not altered:
        return state
    found = [box for y0, y1 in rows for box in _find_lines(engine, image, y0, y1)]
    known, unknown = _identify(found, state.tracked, image, options)
    unknown += [TrackedLine(t.line, picture(image, t.line.box)) for t in altered]
    kept = [t for t in kept if not any(t is k for k in known + altered)]  # a known line a box regrouped may lie outside the band
    tracked = sorted(kept + known + _recognize(unknown, image, engine, options), key=lambda t: (t.line.box[1], t.line.box[0]))
    new_reference = thumb.copy() if reference is None else reference.copy()
    for first, last in bands:
        new_reference[first * CELL_PX : last * CELL_PX] = thumb[first * CELL_PX : last * CELL_PX]
    return replace(
        state,
        frame_size=(image.shape[1], height),
        reference=new_reference,
        tracked=tuple(tracked),
        lines=tuple(t.line for t in tracked if t.line.text),
        frames_read=state.frames_read + 1,
        area_read=state.area_read + sum(y1 - y0 for y0, y1 in rows) / height,
        recognized=state.recognized + len(unknown),
    )


def _over(box: Box, blocks: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether a box (frame pixels) covers part of a changed block."""
    rows, cols = blocks.shape
    height, width = shape[:2]
    r0, r1 = int(box[1] * rows / height), int(np.ceil(box[3] * rows / height))
    c0, c1 = int(box[0] * cols / width), int(np.ceil(box[2] * cols / width))
    return bool(blocks[max(0, r0) : r1, max(0, c0) : c1].any())


def _centre_in(box: Box, y0: int, y1: int) -> bool:
    return y0 <= (box[1] + box[3]) / 2 < y1


def _find_lines(engine: OcrEngine, image: np.ndarray, y0: int, y1: int) -> list[TextBox]:
    """Line boxes (in frame pixels) whose middle lies in the band [y0, y1); text "" where not yet read.

    Bands are padded by a row of cells, so a line's middle band holds it whole. An engine without
    detect() reads the band whole instead.
    """
    band = image[y0:y1]
    if hasattr(engine, "detect"):
        found = [TextBox("", 0.0, box) for box in engine.detect(band, (image.shape[1], image.shape[0]))]
    else:
        found = engine.read(band)
    moved = [TextBox(f.text, f.score, (f.box[0], f.box[1] + y0, f.box[2], f.box[3] + y0)) for f in found]
    return [box for box in moved if _centre_in(box.box, y0, y1)]


def _identify(
    found: list[TextBox], known: tuple[TrackedLine, ...], image: np.ndarray, options: OcrConfig
) -> tuple[list[TrackedLine], list[TrackedLine]]:
    """The boxes found: those that show known lines (with their text), and those to recognise (text "")."""
    tracked: list[TrackedLine] = []
    unknown: list[TrackedLine] = []
    regrouped: dict[int, TrackedLine] = {}  # known lines kept as they were, by id
    for box in found:
        if not legible(box.box, options):
            continue
        seen = picture(image, box.box)
        if box.text:  # read already, by an engine without detect()
            tracked.append(TrackedLine(_kept(box.text, box.score, box.box, options), seen))
            continue
        same = _same_line(box.box, image, known, options)
        if same is not None:
            tracked.append(TrackedLine(replace(same.line, box=box.box), seen))
            continue
        parts = known_parts(box.box, image, known, options)
        if parts:
            regrouped.update((id(part), part) for part in parts)
        else:
            unknown.append(TrackedLine(TextBox("", 0.0, box.box), seen))
    tracked += [part for part in regrouped.values() if not any(_overlaps(part.line.box, t.line.box) for t in tracked + unknown)]
    return tracked, unknown


def _recognize(boxes: list[TrackedLine], image: np.ndarray, engine: OcrEngine, options: OcrConfig) -> list[TrackedLine]:
    """The boxes (with their pictures in `image`) read, in one batch: a frame's one recognition call."""
    if not boxes:
        return []
    readings = engine.recognize([crop_box(image, t.line.box) for t in boxes])
    return [replace(t, line=_kept(text, score, t.line.box, options)) for t, (text, score) in zip(boxes, readings)]


def known_parts(box: Box, image: np.ndarray, known: tuple[TrackedLine, ...], options: OcrConfig) -> list[TrackedLine]:
    """The known lines that `box` is made of, when it holds nothing else: the detector grouped known
    words another way (a menu bar found as "Arquivo", "Editar", "Exibir" on one frame and as one box on
    the next, or cut mid-word). Every known line in the box's row that overlaps it must look as it did,
    in its own place, and the box's columns outside them must hold no ink (only the spaces between
    words); otherwise (typing added a word, a line changed) [] and the box is recognised."""
    x0, y0, x1, y1 = box
    row = [k for k in known if min(x1, k.line.box[2]) > max(x0, k.line.box[0]) and _centre_in(k.line.box, y0, y1 + 1e-6)]
    if not row or not all(looks_same(k, image, k.line.box, options.same_line_diff) for k in row):
        return []
    covered = np.zeros(max(1, int(np.ceil(x1)) - int(x0)), dtype=bool)
    for k in row:
        covered[max(0, int(k.line.box[0]) - int(x0)) : max(0, int(np.ceil(k.line.box[2])) - int(x0))] = True
    grey = picture(image, box)
    if grey.size == 0:
        return []
    ink = np.ptp(grey, axis=0)[: covered.size] > INK_SHARE * max(float(np.ptp(grey)), MIN_CONTRAST)
    return row if not np.any(ink & ~covered[: ink.size]) else []


def _overlaps(a: Box, b: Box) -> bool:
    """Whether two boxes share more than half the smaller one's area."""
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width > 0 and height > 0 and width * height > 0.5 * smaller


def _kept(text: str, score: float, box: Box, options: OcrConfig) -> TextBox:
    """The line as read, or a fragment (text "") when the reading is not worth keeping."""
    text = " ".join(text.split())
    return TextBox(text, score, box) if worth_keeping(text, score, options) else TextBox("", score, box)


def _same_line(box: Box, image: np.ndarray, known: tuple[TrackedLine, ...], options: OcrConfig) -> TrackedLine | None:
    """The known line of about the box's size, nearest first, that looks the same in `image`."""
    width, height = box[2] - box[0], box[3] - box[1]

    def similar(t: TrackedLine) -> bool:  # jitter, but less than a character wider or narrower
        x0, y0, x1, y1 = t.line.box
        return abs(x1 - x0 - width) <= max(3, 0.25 * height) and abs(y1 - y0 - height) <= max(3, 0.35 * height)

    def distance(t: TrackedLine) -> float:
        x0, y0, x1, y1 = t.line.box
        return abs(x0 + x1 - box[0] - box[2]) + abs(y0 + y1 - box[1] - box[3])

    for candidate in sorted(filter(similar, known), key=distance):
        if looks_same(candidate, image, box, options.same_line_diff):
            return candidate
    return None


def _update_spans(state: OcrState, frame: Frame, max_diff: float) -> tuple[OcrState, list[OcrLine]]:
    """Continue the span of each visible line seen in the same place last time; open or close the rest.

    Their edges are where the strips tell (came_at, went_at): a line that another replaced in its place
    (a counter that ticked, a word typed onto it) went when its picture first changed, one that nothing
    replaced when most of it no longer showed (a mouse pointer passing over it is not its end). Where
    the strips cannot tell, a line that replaces another comes when the other went, and the other way
    round; else the edge is at `change_time`."""
    t_s, edge_s = frame.t_s, change_time(state.last_frame_s, frame.t_s, cut=frame.shot_change)
    if frame.shot_change and frame.cut_s is not None:
        edge_s = frame.cut_s  # what came or went with the cut did so when the new shot started
    width, height = state.frame_size
    pictures = _since_last(state, frame)
    state = _watched(state, pictures)
    open_spans = list(state.spans)
    continued: list[OpenSpan] = []
    new: list[OpenSpan] = []
    for line in state.lines:
        x0, y0, x1, y1 = line.box
        seen = OcrLine(t_s, t_s, line.text, round(line.score, 4), round((x0 + x1) / 2 / width, 3), round((y0 + y1) / 2 / height, 3))
        match = next(
            (s for s in open_spans if line_key(s.text) == line_key(seen.text) and s.line(t_s).same_place(seen)), None
        )
        if match is not None:
            open_spans.remove(match)
            look, presses = follow(match.look, match.box, (height, width), pictures)
            continued.append(replace(match, last_seen_s=t_s, box=line.box, look=look, pressed=match.pressed + _steps(presses, match, state)))
        elif not any(line_key(c.text) == line_key(seen.text) and c.line(t_s).same_place(seen) for c in continued + new):
            new.append(OpenSpan(t_s, t_s, seen.text, seen.score, seen.x, seen.y, line.box))
    came = [came_at(span.box, (height, width), pictures, max_diff) for span in new]
    went = [
        went_at(span.box, (height, width), pictures, max_diff, most=not any(_overlaps(span.box, n.box) for n in new)) for span in open_spans
    ]

    def instead(box: Box, others: list[OpenSpan], times: list[float | None]) -> float:
        return next((t for other, t in zip(others, times, strict=True) if t is not None and _overlaps(box, other.box)), edge_s)

    for span, start in zip(new, came, strict=True):
        look, _ = follow(None, span.box, (height, width), pictures[-1:])
        continued.append(replace(span, start_s=instead(span.box, open_spans, went) if start is None else start, look=look))
    closed = [_closed(span, instead(span.box, new, came) if end is None else end, pictures, state) for span, end in zip(open_spans, went, strict=True)]
    return replace(state, spans=tuple(continued)), closed


def _closed(span: OpenSpan, end_s: float, pictures: Pictures, state: OcrState) -> OcrLine:
    """`span`'s line, gone at `end_s`, with the presses that began in the pictures while it was there."""
    width, height = state.frame_size
    _, presses = follow(span.look, span.box, (height, width), pictures, until_s=end_s)
    return replace(span, pressed=span.pressed + _steps(presses, span, state)).line(end_s)


def _watched(state: OcrState, pictures: Pictures) -> OcrState:
    """`state` with the times the screen changed in `pictures` (other than by a pointer), those of the last
    seconds a press's step may reach back to kept; none, and nothing watched, where there are no pictures."""
    if not pictures:
        return replace(state, changes=(), watched_since_s=None)
    keep_from = pictures[-1][0] - APPROACH_S - MAX_PRESS_S
    kept = tuple(change for change in state.changes if change[0] >= keep_from)
    since = pictures[0][0] if state.watched_since_s is None else state.watched_since_s
    width, height = state.frame_size
    return replace(state, changes=kept + tuple(screen_changes(pictures, (height, width))), watched_since_s=since)


def _steps(presses: list[Press], span: OpenSpan, state: OcrState) -> tuple[Press, ...]:
    """`presses` ((onset, end) of each) of `span`'s line as the steps that made them (line_presses.step_start):
    from where the screen last changed before, since the line and the strips were seen; none that began as the
    screen was laid out anew (line_presses.relaid_out)."""
    since = span.start_s if state.watched_since_s is None else max(span.start_s, state.watched_since_s)
    return tuple(
        (round(step_start(onset, state.changes, since), 3), end) for onset, end in presses if not relaid_out(onset, span.box, state.changes)
    )


def _since_last(state: OcrState, frame: Frame) -> Pictures:
    """The strip pictures from the frame read before (first) to `frame` (last); () where either frame
    has no strip (or its own picture is not in it)."""
    before = [i for i, (t_s, _) in enumerate(state.strip) if state.last_frame_s is not None and abs(t_s - state.last_frame_s) < 1e-3]
    now = [i for i, (t_s, _) in enumerate(frame.strip) if abs(t_s - frame.t_s) < 1e-3]
    if not before or not now:
        return ()
    return state.strip[before[0] :] + frame.strip[: now[0] + 1]
