"""What popped up (qa/popups.py): a dialog, a tooltip, a notification is a group of lines that came together over
a screen that stayed, and went while it stayed. On hand-made lines shaped like the dev screencast's (its Displays
window, its confirmation dialog and tooltips) and like a slideshow's and a timecode's; the service test uses a
stand-in store that returns a fixed ranking (it is about the moments made of what was retrieved)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.popups import POPUP_EVIDENCE, asks_popup, popups
from streammm.qa.service import QueryService, SearchRequest
from streammm.records import Clip, OcrLine, ScoredClip
from tests.unit.test_answers import KeywordEncoder, run
from tests.unit.test_moment_order import RankedStore


def line(text: str, start: float, end: float, x: float, y: float) -> OcrLine:
    return OcrLine(start, end, text, x=x, y=y)


TOP_BAR = [line("Activities", 0.0, 40.0, 0.04, 0.02), line("Wed 18:38", 0.0, 40.0, 0.5, 0.02)]
WINDOW = [  # opens at 4 s, closes at 36 s
    line(text, 4.0, 36.0, x, y)
    for text, x, y in [("Displays", 0.5, 0.16), ("All Settings", 0.23, 0.21), ("Mirror displays", 0.66, 0.56), ("Apply", 0.76, 0.75),
                       ("Detect Displays", 0.25, 0.75), ("Rotation: Normal", 0.23, 0.67), ("Resolution: 1024 x 768", 0.3, 0.62)]
]  # fmt: skip
DIALOG = [
    line("Does the display look OK?", 31.0, 32.6, 0.42, 0.23),
    line("The display will be reset to its previous configuration in 30 seconds", 31.0, 31.47, 0.53, 0.28),
    line("Restore Previous Configuration", 31.0, 32.6, 0.4, 0.35),
    line("Keep This Configuration", 31.0, 31.8, 0.63, 0.35),
]
COUNTDOWN = line("The display will be reset to its previous configuration in 29 seconds", 31.8, 32.6, 0.53, 0.28)
TOOLTIP = line("Drag to change primary display.", 16.07, 17.13, 0.67, 0.4)
SCREENCAST = TOP_BAR + WINDOW + DIALOG + [COUNTDOWN, TOOLTIP]


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("a confirmation dialog appears", True),
        ("what does the pop-up say?", True),
        ("when does a popup appear?", True),
        ("when does something pop up?", True),
        ("what does the tooltip say?", True),
        ("an error message box", True),
        ("a notification shows", True),
        ("a dialogue box asks to confirm", True),
        # not a pop-up: what is said in a film, a shell's prompt, a whole window, a message on a slide
        ("the dialogue between the two callers", False),
        ("the terminal shows only an empty prompt", False),
        ("the settings window is closed", False),
        ("the message on the first slide", False),
    ],
)  # fmt: skip
def test_a_question_names_a_popup(question, asks):
    assert asks_popup(question) is asks


def test_a_dialog_and_a_tooltip_over_a_window_are_popups_from_when_they_came_to_when_they_went():
    found = popups(SCREENCAST)
    assert [(p.start_s, p.end_s) for p in found] == [(16.07, 17.13), (31.0, 32.6)]
    tooltip, dialog = found
    assert [ln.text for ln in tooltip.lines] == ["Drag to change primary display."]
    # the countdown's next second came while the dialog was up, where its lines are: it is the dialog's
    assert {ln.text for ln in dialog.lines} == {ln.text for ln in DIALOG + [COUNTDOWN]}


def test_a_window_a_slide_a_timecode_and_a_line_read_again_are_not_popups():
    # the window itself: more lines came than were on screen under it
    assert popups(TOP_BAR + WINDOW) == []
    # a slide's counter: "slide 2 of 5" came where "slide 1 of 5" went
    slides = [line("Sense and Sensibility, chapter one", 0.0, 25.0, 0.5, 0.05)]
    slides += [line(f"slide {n} of 5", 5.0 * (n - 1), 5.0 * n, 0.5, 0.93) for n in range(1, 6)]
    assert popups(slides) == []
    # a timecode's frames field: a line of one frame each second
    timecode = [line("1024 x 768 25 fps Photo JPEG 75%", 0.0, 16.0, 0.5, 0.1), line("colour bars", 0.0, 16.0, 0.5, 0.5)]
    timecode += [line(f"00:00:{s:02d}:00", float(s), s + 0.04, 0.5, 0.8) for s in range(16)]
    assert popups(timecode) == []
    # a label OCR lost for a moment (a cursor over it) and read again, "aptop" where "Laptop" was
    reread = TOP_BAR + WINDOW + [line("Laptop", 4.0, 23.47, 0.45, 0.34), line("aptop", 24.0, 28.13, 0.45, 0.34)]
    assert popups(reread) == []
    # a window that opens with its label first (the screen under it changes while the label is up)
    assert popups(TOP_BAR + [line("Laptop", 3.53, 30.4, 0.04, 0.07)] + WINDOW) == []


def test_many_dialogs_in_a_long_screencast_are_each_found():
    """The load case: a half-hour screencast whose window stays open, with a dialog every 90 s and a clock that
    changes each minute."""
    lines = list(TOP_BAR[:1]) + [line(ln.text, 1.0, 1800.0, ln.x, ln.y) for ln in WINDOW]
    lines += [line(f"18:{m:02d}", 60.0 * m, 60.0 * (m + 1), 0.5, 0.02) for m in range(30)]
    starts = [45.0 + 90.0 * i for i in range(19)]
    for t in starts:
        lines += [line(f"Save changes to file {int(t)}?", t, t + 4.0, 0.5, 0.4), line("Save", t, t + 4.0, 0.4, 0.5), line("Cancel", t, t + 4.0, 0.6, 0.5)]
    found = popups(lines)
    assert [p.start_s for p in found] == starts
    assert all(len(p.lines) == 3 and p.end_s == p.start_s + 4.0 for p in found)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 60), st.floats(0.01, 30), st.sampled_from(["OK", "Cancel", "Save?", "x", "OK?"]),
                          st.floats(0, 1), st.floats(0, 1)), max_size=25))  # fmt: skip
def test_any_lines_give_popups_in_time_order_made_of_lines_shown_inside_them(raw):
    """Bad input: any times, places and texts (lines of no length, overlapping, in one place). Pop-ups come in
    time order, each made of lines that came within it, never of the screen under it."""
    lines = [line(text, start, start + length, x, y) for start, length, text, x, y in raw]
    found = popups(lines)
    assert [p.start_s for p in found] == sorted(p.start_s for p in found)
    for p in found:
        assert p.end_s > p.start_s and p.lines
        assert all(p.start_s - 0.3 <= ln.start_s < p.end_s and ln.end_s <= p.end_s + 0.3 for ln in p.lines)


def clip(start: float, lines: list[OcrLine], stream: str = "screencast") -> Clip:
    shown = tuple(ln for ln in lines if ln.start_s < start + 4.0 and ln.end_s > start)  # as stored once they went
    vector = np.zeros(64, dtype=np.float32)
    vector[0] = 1.0
    return Clip(f"{stream}-{start:g}", stream, start, start + 4.0, "p", ocr_lines=shown, ocr_text="\n".join(ln.text for ln in shown), vectors={"joint": vector})


@pytest.fixture(scope="module")
def service() -> QueryService:
    """The screencast's clips, those nearest the dialog first (as its words rank them), then the rest."""
    clips = sorted((clip(2.0 * i, SCREENCAST) for i in range(19)), key=lambda c: abs(c.start_s - 30.0))
    return QueryService(RankedStore([ScoredClip(c, 1.0 - 0.01 * i) for i, c in enumerate(clips)]), KeywordEncoder())


def test_a_question_about_a_dialog_gets_the_dialog_and_what_it_says(service):
    """No line says "dialog": its moment is when it came and went, and "what does the dialog say?" is answered
    with its lines, top to bottom, not the window's under it; a question that names one line of it gets that
    line's seconds (the countdown's second state)."""
    moments = service.moments(SearchRequest("a confirmation dialog appears", k=3))
    assert (moments[0].start_s, moments[0].end_s, moments[0].evidence) == (31.0, 32.6, POPUP_EVIDENCE)
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "what does the dialog say?", service.moments(SearchRequest("what does the dialog say?")))
    said = [done.text[c.text_start : c.text_end] for c in done.citations]
    assert done.citations[0].start_s == pytest.approx(31.0) and "“Does the display look OK?”" in done.text, done.text
    assert "Apply" not in done.text and "Mirror displays" not in done.text, done.text
    assert len(said) == 4, done.text  # its four lines as it came (the countdown's next second is one of them)
    named = service.moments(SearchRequest("the dialog says it will reset in 29 seconds", k=1))
    assert (named[0].start_s, named[0].end_s) == (31.8, 32.6)


def test_a_tooltip_question_gets_the_tooltip_and_a_question_of_no_popup_is_as_it_was(service):
    tooltip = service.moments(SearchRequest("when does a tooltip appear?", k=2))
    assert {(m.start_s, m.end_s, m.evidence) for m in tooltip} == {(16.07, 17.13, POPUP_EVIDENCE), (31.0, 32.6, POPUP_EVIDENCE)}
    assert all(m.evidence != POPUP_EVIDENCE for m in service.moments(SearchRequest("when is Apply shown?")))
