"""When a line on screen was pressed (stages/line_presses.py): its row darkens or lights up for a moment while its
text stays, between two sampled frames. The pictures are drawn with Pillow (real glyphs); the OCR engine is
scripted: what it reads is not under test, when the line was pressed is. The press is kept with the line, on the
bus and in both stores' rows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from streammm.bus.codec import _line, _line_json
from streammm.config import OcrConfig
from streammm.models.base import TextBox
from streammm.records import Frame, OcrLine, Timeline
from streammm.stages.line_presses import APPROACH_S, CONTROL_LINES, MAX_PRESS_S, follow, relaid_out, screen_changes, step_start
from streammm.stages.ocr import OcrState, finish, read_step
from streammm.store.rows import ocr_lines_from_json, ocr_lines_json
from tests.unit.test_ocr_strips import FONT, H, W, TypedLines, box_of, grey, pointed, sampled, strip

LABEL = "Apply"


def pressed(text: str = LABEL, background: int = 160) -> np.ndarray:
    """`text` on a button whose face is darker: the row as it is pressed."""
    image = Image.fromarray(grey())
    left, top, right, bottom = box_of(text)
    ImageDraw.Draw(image).rectangle((left - 6, top - 4, right + 6, bottom + 4), fill=background)
    ImageDraw.Draw(image).text((40, 60), text, fill=20, font=FONT)
    return np.asarray(image)


def test_a_press_between_two_samples_is_kept_with_its_line_to_the_frame():
    """A button label read at 3 s and at 4 s, pressed from the 10th frame after 3 s to the 14th (3.40-3.56 s at
    25 fps): its line keeps the press, as the step that made it, from 3.0 s (nothing changed on screen since the
    line and the pictures were first seen); a pointer passing over it at 5 s is no press; it goes at 6 s."""
    engine, options, state = TypedLines(), OcrConfig(gate_grid=1, gate_threshold=0.1), OcrState()  # every frame read whole
    engine.on_screen = [TextBox(LABEL, 0.9, box_of(LABEL))]
    state, _ = read_step(state, [sampled(3.0, [grey(LABEL)] * 10 + [pressed()] * 4 + [grey(LABEL)] * 11)], engine, options)
    state, _ = read_step(state, [sampled(4.0, [grey(LABEL)] * 25)], engine, options)
    state, _ = read_step(state, [sampled(5.0, [pointed(grey(LABEL), (45 + 4 * i, 62)) for i in range(10)] + [grey(LABEL)] * 15)], engine, options)
    engine.on_screen = []
    state, closed = read_step(state, [sampled(6.0, [grey()] * 25)], engine, options)
    assert [(c.text, c.pressed) for c in closed] == [(LABEL, ((3.0, 3.56),))]


def dialog(picture: np.ndarray) -> np.ndarray:
    """`picture` with a dialog box drawn over its lower half: most of the screen changed."""
    image = Image.fromarray(picture)
    ImageDraw.Draw(image).rectangle((10, 100, W - 10, H - 10), fill=90, outline=0)
    return np.asarray(image)


def test_a_press_is_kept_from_where_the_screen_last_changed_and_the_pointer_set_out():
    """The screen changes at 1.4 s (a dialog opened below the label), the pointer travels towards the label from
    1.6 s, and the label is pressed at 2.2-2.36 s: the step is 1.4-2.36 s, the pointer's way included (it is no
    change of the screen). Idle for longer before it, the step reaches back APPROACH_S at most."""
    engine, options, state = TypedLines(), OcrConfig(gate_grid=1, gate_threshold=0.1), OcrState()
    engine.on_screen = [TextBox(LABEL, 0.9, box_of(LABEL))]
    shown = [grey(LABEL)] * 10 + [dialog(grey(LABEL))] * 5 + [pointed(dialog(grey(LABEL)), (250 - 10 * i, 150 - 8 * i)) for i in range(10)]
    state, _ = read_step(state, [sampled(1.0, shown)], engine, options)
    state, _ = read_step(state, [sampled(2.0, [dialog(grey(LABEL))] * 5 + [dialog(pressed())] * 4 + [dialog(grey(LABEL))] * 16)], engine, options)
    engine.on_screen = []
    _, closed = read_step(state, [sampled(3.0, [grey()] * 25)], engine, options)
    assert [c.pressed for c in closed] == [((1.4, 2.36),)]
    assert [t for t, _, _ in screen_changes(strip(shown), (H, W))] == [1.4]  # the pointer's path is no change of the screen
    assert step_start(9.0, [(1.4, 0.0, H)], since_s=0.0) == 9.0 - APPROACH_S
    assert step_start(2.2, [(1.4, 0.0, H), (2.2, 50.0, 90.0), (2.36, 50.0, 90.0)], since_s=1.0) == 1.4  # the press's own change is not before it
    assert step_start(2.2, [], since_s=1.9) == 1.9  # nothing seen before the line came


def test_a_line_that_goes_or_changes_its_look_for_good_was_not_pressed():
    """A label that went at 1.2 s (its place shows the background, then something else from 1.4 s: as a
    press that closed a dialog would, but the label went first), one greyed out (darker for good), and one
    still open at the end of the stream: no presses."""
    box = box_of(LABEL)
    gone = strip([grey(LABEL)] * 5 + [grey()] * 5 + [np.full((H, W), 60, np.uint8)] * 15, start_s=1.0)
    assert follow(None, box, (H, W), gone, until_s=1.2)[1] == []
    assert follow(None, box, (H, W), gone)[1] == [(1.2, 1.4)]  # (had it not gone, the same pictures are a press)
    greyed = strip([grey(LABEL)] * 5 + [pressed()] * 70, start_s=1.0)  # 2.8 s darker: its new look
    look, presses = follow(None, box, (H, W), greyed)
    assert presses == [] and look is not None and look.pressed_since is None
    engine, options, state = TypedLines(), OcrConfig(gate_grid=1, gate_threshold=0.1), OcrState()
    engine.on_screen = [TextBox(LABEL, 0.9, box)]
    state, _ = read_step(state, [sampled(1.0, [grey(LABEL)] * 25)], engine, options)
    assert [line.pressed for line in finish(state, 2.0, hold_s=0.5)] == [()]


def test_a_press_that_closes_its_dialog_ends_when_the_dialog_went():
    """Pressed at 1.2 s, the dialog (and the label) gone at 1.4 s: the place changed twice, a press."""
    box = box_of(LABEL)
    closing = strip([grey(LABEL)] * 5 + [pressed()] * 5 + [pressed(background=60)] * 10, start_s=1.0)
    _, presses = follow(None, box, (H, W), closing)
    assert presses == [(1.2, 1.4)]


def test_many_presses_through_a_long_run_of_frames_are_each_kept():
    """The load case: an hour at 25 fps of one label's mean grey, pressed for 6 frames every 2 minutes."""
    box = (0.0, 0.0, 4.0, 4.0)
    light, dark = np.full((4, 4), 230, np.uint8), np.full((4, 4), 150, np.uint8)
    frames = [(round(i / 25, 2), dark if i % 3000 in range(1500, 1506) else light) for i in range(90000)]
    _, presses = follow(None, box, (4, 4), frames)
    assert presses == [(60.0 + 120.0 * k, 60.24 + 120.0 * k) for k in range(30)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 255), max_size=120), st.floats(-2, 50))
def test_any_run_of_looks_gives_presses_in_order_within_the_frames(means, until_s):
    """Bad input: any sequence of looks (and a line that went at any time). Presses come in time order, each
    began before the line went, lasts at most MAX_PRESS_S, and lies within the frames followed."""
    frames = [(i / 25, np.full((2, 2), m, np.uint8)) for i, m in enumerate(means)]
    _, presses = follow(None, (0.0, 0.0, 2.0, 2.0), (2, 2), frames, until_s=until_s)
    assert presses == sorted(presses)
    for start_s, end_s in presses:
        assert 0.0 < end_s - start_s <= MAX_PRESS_S and start_s < until_s and end_s <= frames[-1][0]


def test_a_line_and_its_presses_survive_the_bus_and_the_stores_and_older_rows_read_as_never_pressed():
    line = OcrLine(4.0, 35.67, "Apply", 0.99, 0.76, 0.75, pressed=((29.933, 30.399),))
    assert _line(_line_json(line)) == line
    assert ocr_lines_from_json(ocr_lines_json([line])) == (line,)
    older = '[{"start_s": 4.0, "end_s": 35.67, "text": "Apply", "score": 0.99, "x": 0.76, "y": 0.75}]'
    assert ocr_lines_from_json(older) == (OcrLine(4.0, 35.67, "Apply", 0.99, 0.76, 0.75),)
    assert _line([4.0, 35.67, "Apply", 0.99, 0.76, 0.75]).pressed == ()


def test_inspect_shows_where_a_line_was_pressed():
    timeline = Timeline("screencast.webm", 37.0, ocr=(OcrLine(4.0, 35.67, "Apply", pressed=((29.9333, 30.3994),)), OcrLine(4.0, 35.67, "Normal")))
    assert timeline.to_json()["ocr"] == [
        {"start_s": 4.0, "end_s": 35.67, "text": "Apply", "pressed": [[29.933, 30.399]]},
        {"start_s": 4.0, "end_s": 35.67, "text": "Normal"},
    ]


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 100), st.lists(st.floats(0, 100), max_size=20), st.floats(0, 100))
def test_a_step_never_begins_after_its_press_nor_long_before_it(onset_s, changes, since_s):
    """Any press, any screen changes (in order), any time the line was first seen: the step begins at the last
    change before the press, but not more than APPROACH_S before it, nor before the line was seen where that
    was before the press."""
    start = step_start(onset_s, [(t, 0.0, 1.0) for t in sorted(changes)], since_s)
    assert onset_s - APPROACH_S - 1e-9 <= start and start >= since_s
    assert start <= onset_s or since_s > onset_s


def test_pictures_of_another_size_are_a_change_of_the_screen_and_a_pointer_is_not():
    """Bad input: a strip whose pictures change size (the stream's resolution changed) counts as a change where
    it did; a pointer drawn over a large frame does not, wherever it goes."""
    small, large = np.full((90, 160), 200, np.uint8), np.full((720, 1280), 200, np.uint8)
    assert screen_changes(strip([small, small, large, large]), (720, 1280)) == [(1.08, 0.0, 720.0)]
    moving = [pointed(large, (100 + 40 * i, 100 + 30 * i)) for i in range(10)]
    assert screen_changes(strip(moving), (720, 1280)) == []
    assert screen_changes((), (720, 1280)) == [] and screen_changes(strip(moving[:1]), (720, 1280)) == []


def test_a_long_stream_that_changes_every_frame_keeps_only_the_last_seconds_of_changes():
    """The load case for the steps: two minutes at 25 fps, sampled every second, the whole lower half of the screen
    changing on every frame (a video playing under the label). The changes kept stay those a step may reach back
    to; a press after them is a step from the last change, where the flicker stopped."""
    engine, options, state = TypedLines(), OcrConfig(gate_grid=1, gate_threshold=0.1), OcrState()
    engine.on_screen = [TextBox(LABEL, 0.9, box_of(LABEL))]
    flicker = [dialog(grey(LABEL)), grey(LABEL)]
    for second in range(120):
        state, _ = read_step(state, [sampled(float(second), [flicker[i % 2] for i in range(25)])], engine, options)
        assert len(state.changes) <= 25 * (APPROACH_S + MAX_PRESS_S + 1) + 1, (second, len(state.changes))
    state, _ = read_step(state, [sampled(120.0, [grey(LABEL)] * 10 + [pressed()] * 4 + [grey(LABEL)] * 11)], engine, options)
    engine.on_screen = []
    _, closed = read_step(state, [sampled(121.0, [grey()] * 25)], engine, options)
    assert [c.pressed for c in closed] == [((120.0, 120.56),)]


def test_a_look_that_changed_as_the_screen_was_laid_out_anew_is_no_press():
    """The screencast's panel is redrawn as a monitor is switched on (8.40 s: 390 px of rows changed at once), and
    every row's mean moves: "Rotation:" and "Normal" had been kept as pressed. A press changes its control only:
    the check box's row (27 px), a button, a monitor's tile under its label (92 px)."""
    label = (40.0, 420.0, 110.0, 436.0)  # a line 16 px tall
    assert relaid_out(8.4, label, [(8.4, 228.0, 618.0)])
    assert not relaid_out(8.4, label, [(8.4, 418.0, 445.0)])  # its row
    assert not relaid_out(8.4, label, [(8.4, 400.0, 400.0 + CONTROL_LINES * 16.0)])  # a tile
    assert not relaid_out(8.4, label, [(8.0, 0.0, 768.0), (9.0, 0.0, 768.0)])  # the screen changed, but not then
    assert not relaid_out(8.4, label, [])  # the press changed less than a pointer does


def test_a_step_does_not_reach_back_over_frames_nobody_saw():
    """The failure case: a frame decoded without its strip (a segment thinned or re-decoded, a worker restarted)
    leaves seconds unseen. The screen changed at 1.4 s, then 2 s went unwatched; the label pressed at 4.4 s is a
    step from 3.0 s, where the pictures began again, not from the change before the gap."""
    engine, options, state = TypedLines(), OcrConfig(gate_grid=1, gate_threshold=0.1), OcrState()
    engine.on_screen = [TextBox(LABEL, 0.9, box_of(LABEL))]
    state, _ = read_step(state, [sampled(1.0, [grey(LABEL)] * 10 + [dialog(grey(LABEL))] * 15)], engine, options)
    blind = sampled(2.0, [dialog(grey(LABEL))])
    state, _ = read_step(state, [Frame(t_s=blind.t_s, image=blind.image)], engine, options)  # no strip
    assert state.changes == () and state.watched_since_s is None
    state, _ = read_step(state, [sampled(3.0, [dialog(grey(LABEL))] * 25)], engine, options)
    state, _ = read_step(state, [sampled(4.0, [dialog(grey(LABEL))] * 10 + [dialog(pressed())] * 4 + [dialog(grey(LABEL))] * 11)], engine, options)
    engine.on_screen = []
    _, closed = read_step(state, [sampled(5.0, [grey()] * 25)], engine, options)
    assert [c.pressed for c in closed] == [((3.0, 4.56),)]
