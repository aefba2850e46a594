"""OCR span merging and the change gate, with a scripted engine (the real RapidOCR is in integration)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streammm.config import OcrConfig
from streammm.models.base import TextBox
from streammm.records import Frame
from streammm.stages.ocr import OcrState, block_diffs, changed_bands, finish, line_key, read_step, thumbnail

H, W = 240, 320


class ScriptedOcr:
    """Reads whatever `script[t]` says is on screen; records the bands it was asked to read."""

    def __init__(self):
        self.on_screen: list[TextBox] = []
        self.reads: list[int] = []

    def read(self, image):
        self.reads.append(image.shape[0])
        return list(self.on_screen)


def frame(t_s: float, stripe_row: int | None = None) -> Frame:
    image = np.zeros((H, W, 3), dtype=np.uint8)
    if stripe_row is not None:
        image[stripe_row * 20 : stripe_row * 20 + 20, :] = 255
    return Frame(t_s=t_s, image=image)


def test_line_key_ignores_case_and_spacing():
    assert line_key("00:00:07:00") == line_key("00 : 00:07: 00")
    assert line_key("Slide 3 of 5") == line_key("slide 3of5")
    assert line_key("00:00:07:00") != line_key("00:00:08:00")


def test_changed_bands_are_padded_rows_of_changed_cells():
    a = thumbnail(frame(0).image, 12)
    b = thumbnail(frame(1, stripe_row=6).image, 12)
    assert block_diffs(None, a) is None and changed_bands(None, 12, 10.0) == [(0, 12)]
    assert changed_bands(block_diffs(a, a), 12, 10.0) == []
    (first, last), = changed_bands(block_diffs(a, b), 12, 10.0)
    assert first <= 6 < last and last - first <= 4


def test_unchanged_frames_are_not_read_and_lines_become_spans():
    engine = ScriptedOcr()
    options = OcrConfig(gate_grid=12)
    engine.on_screen = [TextBox("slide 3 of 5", 0.9, (10, 200, 100, 220))]
    state, closed = read_step(OcrState(), [frame(t) for t in (10.0, 11.0, 12.0)], engine, options)
    assert closed == [] and engine.reads == [H]  # read once; two identical frames passed the gate
    engine.on_screen = []
    state, closed = read_step(state, [frame(13.0, stripe_row=10)], engine, options)
    # Seen first on the stream's first frame; gone at 13 s: it went between 12 s and 13 s, halfway is the guess.
    assert [(c.start_s, c.end_s, c.text) for c in closed] == [(10.0, 12.5, "slide 3 of 5")]
    assert engine.reads[-1] < H  # only a band was re-read
    assert state.frames == 4 and state.frames_read == 2


def test_a_span_starts_and_ends_halfway_between_frames_or_at_a_cut():
    engine = ScriptedOcr()
    options = OcrConfig(gate_grid=12)
    title = TextBox("Chapter one", 0.9, (10, 20, 100, 40))
    caption = TextBox("A caption", 0.9, (10, 200, 100, 220))

    def show(state: OcrState, t_s: float, *lines: TextBox, cut: bool = False) -> tuple[OcrState, list]:  # a new picture: read whole
        engine.on_screen = list(lines)
        image = np.full((H, W, 3), int(t_s * 40) % 256, dtype=np.uint8)
        return read_step(state, [Frame(t_s=t_s, image=image, shot_change=cut)], engine, options)

    state, _ = show(OcrState(), 0.0)
    state, _ = show(state, 1.0, title)
    state, _ = show(state, 2.0, title)
    state, _ = show(state, 2.25, title, caption, cut=True)  # a cut found between grid frames
    state, _ = show(state, 3.0, title, caption)
    state, closed = show(state, 4.0, caption)
    # The title came between 0 s and 1 s (halfway: 0.5), and went between 3 s and 4 s (3.5).
    assert [(c.start_s, c.end_s, c.text) for c in closed] == [(0.5, 3.5, "Chapter one")]
    state, closed = show(state, 5.0, cut=True)
    # The caption came with the cut at 2.25 s and went with the one at 5 s: those are its edges.
    assert [(c.start_s, c.end_s, c.text) for c in closed] == [(2.25, 5.0, "A caption")]
    assert len(engine.reads) == 7 and set(engine.reads) == {H}  # every frame was read whole
    # A cut's frame that says when its shot began (Frame.cut_s: the probe at 7.24 s saw a cut at 7.04 s):
    # what came with it came then.
    engine.on_screen = [title]
    state, _ = read_step(state, [Frame(t_s=7.24, image=np.full((H, W, 3), 77, dtype=np.uint8), shot_change=True, cut_s=7.04)], engine, options)
    state, closed = show(state, 8.0, cut=True)
    assert [(c.start_s, c.end_s, c.text) for c in closed] == [(7.04, 8.0, "Chapter one")]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0.05, 2.0), st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_each_run_of_sightings_is_one_span_from_the_change_before_it_to_the_change_after(frames):
    """Any frame times (thinned or not), cuts and sightings: each run of frames showing the line is one span
    that holds every one of them, starting after the frame before the run and ending after its last frame,
    at the later frame where a shot starts there, else halfway."""
    engine = ScriptedOcr()
    line = TextBox("Chapter one", 0.9, (10, 20, 100, 40))
    times = [round(sum(gap for gap, _, _ in frames[: i + 1]), 3) for i in range(len(frames))]
    state, spans = OcrState(), []
    for i, (t, (_, cut, shown)) in enumerate(zip(times, frames)):
        engine.on_screen = [line] if shown else []
        image = np.full((H, W, 3), 40 * (i % 6), dtype=np.uint8)  # every frame differs from the last: read whole
        state, closed = read_step(state, [Frame(t_s=t, image=image, shot_change=cut)], engine, OcrConfig(gate_grid=12))
        spans += closed
    spans += finish(state, end_s=times[-1] + 1.0, hold_s=1.0)
    runs, i = [], 0
    while i < len(frames):
        if frames[i][2]:
            j = i
            while j + 1 < len(frames) and frames[j + 1][2]:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    assert len(spans) == len(runs)
    for span, (first, last) in zip(sorted(spans, key=lambda s: s.start_s), runs):
        assert span.start_s <= times[first] and span.end_s >= times[last]  # every sighting inside
        if first == 0 or frames[first][1]:
            assert span.start_s == times[first]  # nothing seen before, or it came with the cut
        else:
            assert span.start_s == round((times[first - 1] + times[first]) / 2, 3)
        if last + 1 < len(frames):
            after = times[last + 1]
            assert span.end_s == (after if frames[last + 1][1] else round((times[last] + after) / 2, 3))


def test_open_spans_close_at_the_end_of_the_stream():
    engine = ScriptedOcr()
    engine.on_screen = [TextBox("Hello", 0.9, (0, 0, 50, 20))]
    state, _ = read_step(OcrState(), [frame(0.0), frame(1.0)], engine, OcrConfig())
    (span,) = finish(state, end_s=5.0, hold_s=1.0)
    assert (span.start_s, span.end_s, span.text) == (0.0, 2.0, "Hello")


def test_the_same_words_in_two_places_are_two_spans():
    engine = ScriptedOcr()
    options = OcrConfig(gate_grid=12)
    engine.on_screen = [TextBox("Mirror displays", 0.9, (200, 20, 300, 40))]
    state, _ = read_step(OcrState(), [frame(28.0)], engine, options)
    engine.on_screen = [
        TextBox("Mirror displays", 0.9, (202, 21, 301, 41)),  # the same line, read a pixel off
        TextBox("MIRROR DISPLAYS", 0.9, (20, 180, 120, 200)),  # the same words somewhere else
    ]
    cut = Frame(t_s=29.0, image=frame(29.0).image, shot_change=True)  # a cut: the whole frame is read again
    state, closed = read_step(state, [cut], engine, options)
    assert closed == []
    spans = sorted(finish(state, end_s=40.0, hold_s=1.0), key=lambda s: s.start_s)
    assert [(s.start_s, s.text) for s in spans] == [(28.0, "Mirror displays"), (29.0, "MIRROR DISPLAYS")]
    assert spans[0].y < 0.2 < 0.7 < spans[1].y
