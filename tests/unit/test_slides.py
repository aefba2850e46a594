"""What a slide, a page or a dialog says (qa/slides.py): the question is read, and the answer is every line shown
together with the best one, top to bottom; a logo there all along, another stream's lines and another slide's
are not."""

from __future__ import annotations

import pytest

from streammm.qa.candidates import Candidate
from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.moments import Moment
from streammm.qa.slides import READ_MOST, reads_screen, shown_with
from streammm.records import OcrLine
from tests.unit.test_answers import KeywordEncoder, clip, run


@pytest.mark.parametrize(
    ("question", "reads"),
    [
        ("what are the bullet points on the wind power slide?", True),
        ("what does the slide about batteries say?", True),
        ("what do the menus list?", True),
        ("what is on the last slide?", True),
        ("what's written on the dialog?", True),
        ("what does the pop-up ask?", True),
        ("what is shown in the settings window?", True),
        ("what does the narrator say about the slide?", False),  # what was said
        ("when is the wind power slide shown?", False),  # when, not what it says
        ("a slide about batteries", False),
        ("", False),
    ],
)
def test_a_question_asks_what_a_slide_says_only_where_it_asks_it(question, reads):
    assert reads_screen(question) is reads


def line(text: str, start: float, end: float, y: float, x: float = 0.3) -> OcrLine:
    return OcrLine(start, end, text, x=x, y=y)


DECK = [
    line("Wind Power", 16.0, 24.0, 0.13),
    line("• Noise and bird concerns", 16.0, 24.0, 0.56),
    line("• Turbines work best offshore", 16.0, 24.0, 0.31),
    line("• Capacity factor near 40%", 16.2, 24.0, 0.43),
    line("Solar Power", 8.0, 16.0, 0.13),  # the slide before
    line("• Solar and wind are cheapest", 32.0, 40.0, 0.31),  # a later slide that shares a word
    line("NEWS 24", 0.0, 40.0, 0.05, x=0.05),  # a logo there all along
]


def candidates_of(lines: list[OcrLine], stream: str = "deck") -> list[Candidate]:
    c = clip(stream, 0.0, 40.0, ocr_lines=tuple(lines))
    return [Candidate("screen", ln.text, c, ln.start_s, ln.end_s, 0, at=ln) for ln in lines]


def test_the_lines_shown_with_the_best_are_its_slide_top_to_bottom():
    found = candidates_of(DECK) + candidates_of([line("Wind Power", 16.0, 24.0, 0.13), line("• Elsewhere", 16.0, 24.0, 0.3)], "other")
    title = found[0]
    assert [c.text for c in shown_with(title, found)] == [
        "Wind Power", "• Turbines work best offshore", "• Capacity factor near 40%", "• Noise and bird concerns",
    ]
    bullet = found[1]  # the best may be any line of the slide: its slide is the same
    assert [c.text for c in shown_with(bullet, found)][0] == "Wind Power"


def test_a_slide_of_many_lines_is_said_up_to_a_limit():
    """The load case: a screen of 200 lines (a terminal, a spreadsheet) is not read out whole."""
    lines = [line(f"row {i}", 0.0, 5.0, i / 200) for i in range(200)]
    found = candidates_of(lines)
    said = shown_with(found[50], found)
    assert len(said) == READ_MOST and [c.text for c in said] == [f"row {i}" for i in range(READ_MOST)]


def test_a_line_whose_place_is_unknown_is_read_alone():
    old = Candidate("screen", "Wind Power", clip("deck", 16.0, 20.0), 16.0, 20.0, 0, at=None)
    assert shown_with(old, [old]) == [old]


def test_the_answer_to_what_a_slide_says_is_every_line_of_it():
    c = clip("deck", 16.0, 20.0, ocr_lines=tuple(DECK))
    moments = [Moment("deck", 16.0, 20.0, 1.0, (c,), relevance=0.5, evidence="ocr", evidence_text="Wind Power")]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "what are the bullet points on the wind power slide?", moments)
    for text in ("Wind Power", "Turbines work best offshore", "Capacity factor near 40%", "Noise and bird concerns"):
        assert text in done.text, done.text
    assert "Solar" not in done.text and "NEWS 24" not in done.text, done.text
    _, best = run(ExtractiveAnswerer(KeywordEncoder()), "which slide mentions wind power?", moments)
    assert len(best.citations) <= 3  # not a reading: the best few


def test_hostile_questions_are_read_in_one_pass():
    """The bad input: questions of 100,000 characters made of the words the readers look for (the server refuses a
    question over 1,000 characters; these run the readers alone). Each is read, and says what it asks."""
    from streammm.qa.listing import listed_kind
    from streammm.qa.speakers import asks_who

    assert reads_screen("what does the slide say? " + "slide " * 20_000)
    assert not reads_screen("what does the " + "slide " * 20_000 + "say")  # "say" too far from what is asked
    assert not reads_screen("what is on the " + "a " * 50_000)
    assert asks_who("who " * 25_000) and asks_who("x, who " * 15_000)
    assert listed_kind("is read " * 10_000) == "speech"
