"""When something on screen was clicked (qa/clicks.py): a question that asks about a click gets the times the line
it names was pressed (OcrLine.pressed), not the seconds it was shown. On hand-made clips; the service test uses a
stand-in store that returns a fixed ranking (it is about the moments made of what was retrieved)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streammm.qa.clicks import asks_click, pressed_moments
from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.moments import PRESS_EVIDENCE, Moment
from streammm.qa.service import QueryService, SearchRequest
from streammm.records import Clip, OcrLine, ScoredClip
from tests.unit.test_answers import KeywordEncoder, run
from tests.unit.test_moment_order import RankedStore

APPLY = OcrLine(4.0, 35.67, "Apply", 0.99, 0.76, 0.75, pressed=((29.933, 30.399),))
MIRROR = OcrLine(4.0, 35.67, "Mirror displays", 0.99, 0.66, 0.56, pressed=((27.866, 28.133),))
DETECT = OcrLine(4.0, 35.67, "Detect Displays", 0.99, 0.25, 0.75)


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("when does the user click Apply?", True),
        ("the Keep This Configuration button is pressed", True),
        ("the 'Mirror displays' check box is ticked", True),
        ("check the Mirror displays box", True),
        ("the Acer monitor is selected", True),
        ("she taps the play button", True),
        # not a click: checking something that is no control, a press conference, a tick of a clock
        ("check the weather forecast", False),
        ("a press conference about the launch", False),
        ("when is Apply shown?", False),
    ],
)  # fmt: skip
def test_a_question_asks_about_a_click(question, asks):
    assert asks_click(question) is asks


def clip(start: float, lines: tuple[OcrLine, ...], stream: str = "screencast") -> Clip:
    vector = np.zeros(64, dtype=np.float32)
    vector[0] = 1.0
    shown = tuple(line for line in lines if line.start_s < start + 4.0 and line.end_s > start)
    return Clip(f"{stream}-{start:g}", stream, start, start + 4.0, "p", ocr_lines=shown, ocr_text="\n".join(l.text for l in shown), vectors={"joint": vector})


def test_each_time_the_line_a_click_question_names_was_pressed_is_a_moment():
    """"Apply" was pressed twice (a clip stored after each knows of it); "Detect Displays" never. Asked when Apply
    is clicked, each press is a moment, in time order, before the other moments; asked of a
    button never pressed, the moments stay as they were, though "Mirror displays", which shares a word, was
    pressed."""
    twice = OcrLine(4.0, 35.67, "Apply", 0.99, 0.76, 0.75, pressed=((12.0, 12.2),))
    clips = [clip(28.0, (APPLY, DETECT, MIRROR)), clip(12.0, (twice,))]
    found = [ScoredClip(c, 1.0) for c in clips]
    shown = Moment("screencast", 0.0, 2.0, 1.0, (clips[0],), relevance=0.5, evidence="visual")
    moments = pressed_moments("when is the Apply button clicked?", None, [shown], found)
    assert [(m.start_s, m.end_s, m.evidence, m.evidence_text) for m in moments] == [
        (12.0, 12.2, PRESS_EVIDENCE, "Apply"), (29.933, 30.399, PRESS_EVIDENCE, "Apply"), (0.0, 2.0, "visual", ""),
    ]  # fmt: skip
    assert moments[1].clips[0].start_s <= 29.933 < moments[1].clips[0].end_s  # its thumbnail shows the press
    assert 0.0 < moments[0].relevance == moments[1].relevance < 1.0
    assert pressed_moments("when is the detect displays button clicked?", None, [shown], found) == [shown]  # not "Mirror displays"


def test_a_click_question_is_answered_with_the_press():
    clips = [clip(2.0 * i, (APPLY, MIRROR, DETECT)) for i in range(18)]
    service = QueryService(RankedStore([ScoredClip(c, 1.0 - 0.01 * i) for i, c in enumerate(clips)]), KeywordEncoder())
    question = "when does the user click Apply?"
    moments = service.moments(SearchRequest(question))
    assert (moments[0].start_s, moments[0].end_s, moments[0].evidence) == (29.933, 30.399, PRESS_EVIDENCE)
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), question, moments)
    assert done.text == "At [screencast @ 00:29–00:31] “Apply” is pressed on screen.", done.text
    assert (done.citations[0].start_s, done.citations[0].end_s) == (29.933, 30.399)
    # asked when it is shown, not clicked: no press
    assert all(m.evidence != PRESS_EVIDENCE for m in service.moments(SearchRequest("when is Apply shown?")))


@pytest.mark.parametrize(
    ("question", "pressed"),
    [
        ("Mirror displays", (27.866, 28.133)),
        ("the Apply button", (29.933, 30.399)),
        ("'Apply'", (29.933, 30.399)),
        # more than the label's words: a question about it, not the label alone
        ("when is Apply shown?", None),
        ("Mirror displays and Detect Displays", None),
        ("Detect Displays", None),  # named alone, never pressed
        ("displays", None),  # a word of two labels, neither's whole name
    ],
)  # fmt: skip
def test_a_pressed_label_named_alone_is_found_where_it_was_pressed(question, pressed):
    """A check box's or a button's label is on screen for the whole panel: typed alone into search, it is found
    where it was pressed, first, and answered so; its other moments follow. Anything more in the question, or a label never
    pressed, leaves the moments as they were."""
    clips = [clip(2.0 * i, (APPLY, MIRROR, DETECT)) for i in range(18)]
    service = QueryService(RankedStore([ScoredClip(c, 1.0 - 0.01 * i) for i, c in enumerate(clips)]), KeywordEncoder())
    moments = service.moments(SearchRequest(question))
    presses = [(m.start_s, m.end_s) for m in moments if m.evidence == PRESS_EVIDENCE]
    if pressed is None:
        assert presses == [], presses
    else:
        assert presses == [pressed] and (moments[0].start_s, moments[0].end_s) == pressed and len(moments) > 1
        _, done = run(ExtractiveAnswerer(KeywordEncoder()), question, moments)
        assert done.text.endswith("” is pressed on screen.") and (done.citations[0].start_s, done.citations[0].end_s) == pressed, done.text


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="abc clickedpressApply'\" ", max_size=60),
    st.lists(st.tuples(st.floats(-5, 60), st.floats(-5, 60)), max_size=4),
    st.booleans(),
)
def test_any_question_and_any_stored_presses_give_moments_within_the_clips(question, presses, named_alone):
    """Bad input: any question (asking about a click, or naming a label alone), and presses as a corrupt or foreign
    row may hold them (before the clip, reversed, outside the video). The moments made are the presses asked about,
    each cited in a clip of its stream, and the other moments follow unchanged."""
    line = OcrLine(4.0, 35.67, "Apply", 0.99, 0.76, 0.75, pressed=tuple(presses))
    found = [ScoredClip(clip(4.0 * i, (line,)), 1.0) for i in range(9)]
    other = Moment("screencast", 0.0, 2.0, 1.0, (found[0].clip,), relevance=0.5, evidence="visual")
    moments = pressed_moments(question, None, [other], found, named_alone=named_alone)
    assert moments[-1] is other
    for m in moments[:-1]:
        assert m.evidence == PRESS_EVIDENCE and (m.start_s, m.end_s) in presses and m.clips[0].stream_id == "screencast"


def test_a_label_named_alone_among_many_pressed_lines_gets_only_its_own_presses():
    """The load case: an hour-long screencast's retrieved clips, 300 buttons each pressed twice ("Button 0" ...
    "Button 299"), 60 clips of 4 s. Typed alone, "Button 17" gets its two presses, first, and nothing of the others
    ("Button 1" is not "Button 17"); a question that asks about Button 17 without naming it alone gets none."""
    lines = tuple(OcrLine(0.0, 3600.0, f"Button {i}", 0.99, 0.5, i / 300, pressed=((10.0 * i, 10.0 * i + 0.3), (10.0 * i + 5.0, 10.0 * i + 5.2))) for i in range(300))
    found = [ScoredClip(Clip(f"s-{t}", "screencast", t, t + 4.0, "p", ocr_lines=lines, ocr_text="", vectors={}), 1.0) for t in range(0, 240, 4)]
    moments = pressed_moments("Button 17", None, [], found, named_alone=True)
    assert [(m.start_s, m.end_s, m.evidence_text) for m in moments] == [(170.0, 170.3, "Button 17"), (175.0, 175.2, "Button 17")]
    assert pressed_moments("when is Button 17 shown?", None, [], found, named_alone=True) == []
