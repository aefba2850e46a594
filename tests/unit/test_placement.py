"""Where on screen a question asks about (qa/placement.py): the place is read from the question, its words
are not words to find, moments are fitted to the lines shown there and answers say those lines."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.fitting import fit_moments
from streammm.qa.moments import Moment
from streammm.qa.placement import asked_place, shown_there
from streammm.qa.terms import Terms
from streammm.records import Clip, OcrLine, ScoredClip
from tests.unit.test_answers import KeywordEncoder


@pytest.mark.parametrize(
    ("question", "name", "rest"),
    [
        ("what does the text at the bottom of the screen say?", "the bottom", "what does the text say?"),
        ("what is the title at the top of the slides?", "the top", "what is the title ?"),
        ("what is written in the top left corner?", "the top left corner", "what is written ?"),
        ("the upper-right corner logo", "the top right corner", "the logo"),
        ("what does the clock in the top bar say?", "the top", "what does the clock say?"),
        ("the time shown on the top bar", "the top", "the time shown"),
        ("what do the subtitles say when he enters?", "the bottom", "what do the say when he enters?"),
        ("the name in the lower third", "the lower third", "the name"),
        ("what is on the right-hand side of the screen?", "the right", "what is ?"),
        ("what is in the middle of the screen?", "the middle", "what is ?"),
        ("text in a corner of the frame", "a corner", "text in a"),
        ("when is Displays shown at the top?", "the top", "when is Displays shown ?"),
        ("what does the bottom line say?", "the bottom", "what does the say?"),
        ("what is on the bottom line?", "the bottom", "what is ?"),
    ],
)
def test_a_place_on_screen_is_read_from_the_question_and_its_words_left_out(question, name, rest):
    asked = asked_place(question)
    assert asked is not None and asked.place.name == name
    assert asked.rest == rest


@pytest.mark.parametrize(
    "question",
    [
        "who is the top player?",
        "turn left at the lights",
        "what is the right answer?",
        "what happens in the middle of the video?",  # a time, not a place
        "a cat in the corner of the room",
        "he left at the top of the hour",
        "a flag at the top of the mountain",
        "a dent on the left side of the car",
        "what does the caption at the top say about the bottom of the sea?",  # two places: none
        "what is the speaker's bottom line?",  # the idiom: nothing asks what the screen shows
        "the bottom line is that we need more money",
        "what is the bottom line of the speech?",
        "dragging the top bar over to make the other monitor the main one",  # a bar handled, not a place
        "when does she click the menu bar?",
        "the title bar is dragged to the right",
    ],
)
def test_words_that_do_not_say_a_place_on_screen_name_none(question):
    assert asked_place(question) is None


def test_the_bands_of_each_place():
    bottom = asked_place("at the bottom").place
    assert bottom.holds(0.5, 0.92) and not bottom.holds(0.5, 0.056)
    corner = asked_place("the top left corner").place
    assert corner.holds(0.04, 0.02) and not corner.holds(0.5, 0.02) and not corner.holds(0.04, 0.9)
    anywhere_corner = asked_place("a corner of the screen").place
    assert anywhere_corner.holds(0.95, 0.95) and not anywhere_corner.holds(0.5, 0.95)
    assert bottom.holds(-1.0, -1.0)  # where a line was is unknown (older stores): it may be there
    assert bottom.nearness(0.5, 0.95) > bottom.nearness(0.5, 0.7)
    assert corner.nearness(0.02, 0.02) > corner.nearness(0.2, 0.2)


def test_the_place_words_are_not_terms_to_match():
    terms = Terms.of("what does the caption at the bottom say about espresso?")
    assert terms.place is not None and terms.place.name == "the bottom"
    assert set(terms.content_words) == {"espresso"}
    assert Terms.of("what does the caption say about espresso?").place is not None  # captions are at the bottom
    assert Terms.of("what is said about the top player?").place is None


def test_hostile_questions_are_read_in_one_pass():
    assert asked_place("at the " * 50_000) is None
    long = asked_place("at the top " * 20_000)
    assert long is not None and long.place.name == "the top" and long.rest == ""


# --- fitting and answering --------------------------------------------------------------------------------

QUERY = np.array([1.0, 0.0, 0.0], dtype=np.float32)
# A slideshow: a title at the top all along, a counter at the bottom per slide, and the word "Displays" at the
# top of a settings window from 20 s and, earlier, in the middle of an application grid.
TITLE = OcrLine(0.0, 30.0, "Sense and Sensibility, chapter one", x=0.5, y=0.056)
COUNTERS = [OcrLine(t, t + 5.0, f"slide {i} of 3", x=0.5, y=0.92) for i, t in enumerate((0.0, 5.0, 10.0), start=1)]
GRID = OcrLine(6.0, 8.0, "Displays", x=0.49, y=0.60)
WINDOW = OcrLine(20.0, 30.0, "Displays", x=0.50, y=0.16)


def slide_clip(start: float) -> Clip:
    lines = [ln for ln in (TITLE, *COUNTERS, GRID, WINDOW) if ln.start_s < start + 4 and ln.end_s > start]
    return Clip(f"s-{start}", "s", start, start + 4.0, "p", ocr_lines=tuple(lines), vectors={"joint": np.array([0.5, 0.86, 0], np.float32)})


def test_a_line_named_with_a_place_is_fitted_where_it_is_shown_there():
    clips = [slide_clip(t) for t in (4.0, 6.0, 20.0, 22.0)]
    found = [ScoredClip(c, 1.0 - i / 10) for i, c in enumerate(clips)]
    grid, window = fit_moments("when is Displays shown at the top of the window?", found, QUERY)
    assert (window.start_s, window.end_s) == (20.0, 26.0) and window.evidence == "ocr"
    assert grid.evidence != "ocr" and grid.relevance < window.relevance  # hybrid search orders by relevance
    grid, window = fit_moments("when is Displays shown?", found, QUERY)
    assert (grid.start_s, grid.end_s) == (6.0, 8.0) and grid.evidence == "ocr"
    assert grid.relevance == window.relevance


def answer(question: str, moments: list[Moment]) -> str:
    async def go():
        return [event async for event in ExtractiveAnswerer(KeywordEncoder(), max_sentences=1).answer(question, moments)]

    return asyncio.run(go())[-1].text


def test_the_answer_says_the_line_shown_at_the_place_asked_about():
    moment = Moment("s", 5.0, 10.0, 1.0, (slide_clip(6.0),))
    bottom = answer("what does the text at the bottom of the screen say?", [moment])
    assert bottom.startswith("At [s @ 00:06–00:10] the bottom of the screen shows: “slide 2 of 3”"), bottom
    top = answer("what does the text at the top of the screen say?", [moment])
    assert "the top of the screen shows: “Sense and Sensibility, chapter one”" in top, top
    assert "the bottom" not in answer("what does the text say?", [moment])


def test_lines_whose_place_is_unknown_may_be_there_and_the_rest_are_kept_where_none_is():
    lines = [OcrLine(0.0, 4.0, "old line"), OcrLine(0.0, 4.0, "top line", x=0.5, y=0.05)]
    bottom = asked_place("at the bottom").place
    assert [ln.text for ln in shown_there(bottom, lines)] == ["old line"]
    assert shown_there(None, lines) == lines
    # nothing shown at the left: the answer says what there is
    moment = Moment("s", 0.0, 4.0, 1.0, (Clip("c", "s", 0.0, 4.0, "p", ocr_lines=(lines[1],)),))
    assert "“top line”" in answer("what is written on the left side of the screen?", [moment])


def test_subtitles_are_at_the_bottom_by_preference_and_still_found_elsewhere():
    """Captions are usually at the bottom, but a video may put them at the top: they still answer."""
    assert asked_place("what do the subtitles say?").place.soft
    assert not asked_place("what do the subtitles at the bottom say?").place.soft
    top = OcrLine(6.0, 10.0, "Launch pad 39A", x=0.5, y=0.1)
    caption = Clip("c", "s", 6.0, 10.0, "p", ocr_lines=(top,), vectors={"joint": np.array([0.5, 0.86, 0], np.float32)})
    (moment,) = fit_moments("the caption says launch pad 39A", [ScoredClip(caption, 1.0)], QUERY)
    assert moment.evidence == "ocr" and moment.evidence_text == "Launch pad 39A"
    (moment,) = fit_moments("the text at the bottom says launch pad 39A", [ScoredClip(caption, 1.0)], QUERY)
    assert moment.evidence != "ocr"  # said outright: the line at the top is not it
    low = OcrLine(6.0, 10.0, "unicef", x=0.5, y=0.95)
    both = Moment("s", 6.0, 10.0, 1.0, (Clip("c", "s", 6.0, 10.0, "p", ocr_lines=(top, low)),))
    assert "“unicef”" in answer("what does the caption say?", [both])  # the bottom one first


def test_a_title_is_at_the_top_by_preference():
    """"What is the title of the slideshow?" had been answered "slide 5 of 5": every line scored alike. A
    title, a heading or a headline is where it usually is, at the top, as a preference (a title card in the
    middle of an empty screen still answers); "the title bar" is a bar, and the word stays a word to find."""
    asked = asked_place("what is the title of the slideshow?")
    assert asked is not None and asked.place.name == "the top" and asked.place.soft and "title" in asked.rest
    assert asked_place("what does the headline say?").place.soft
    assert not asked_place("what does the title bar say?").place.soft
    assert asked_place("what does the subtitle say?").place.name == "the bottom"  # not a title
    assert asked_place("the title at the bottom of the slide").place.name == "the bottom"  # said outright
    moment = Moment("s", 5.0, 10.0, 1.0, (slide_clip(6.0),))
    assert "the top of the screen shows: “Sense and Sensibility, chapter one”" in answer("what is the title?", [moment])
    card = OcrLine(0.0, 4.0, "Chapter One", x=0.5, y=0.5)
    alone = Moment("s", 0.0, 4.0, 1.0, (Clip("c", "s", 0.0, 4.0, "p", ocr_lines=(card,)),))
    assert "“Chapter One”" in answer("what is the title?", [alone])


def test_a_screen_full_of_text_is_answered_from_the_line_nearest_the_edge_asked_about():
    """A text-heavy frame (a terminal listing, a spreadsheet): 300 lines over the screen, in no order."""
    import random

    rng = random.Random(7)
    spots = [(rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)) for _ in range(300)]
    lines = tuple(OcrLine(0.0, 4.0, f"entry {i}", x=x, y=y) for i, (x, y) in enumerate(spots))
    moment = Moment("s", 0.0, 4.0, 1.0, (Clip("c", "s", 0.0, 4.0, "p", ocr_lines=lines),))

    def said(question: str) -> tuple[float, float]:
        text = answer(question, [moment])
        return spots[int(text.split("“entry ")[1].split("”")[0])]

    assert said("what does the bottom line say?")[1] >= 0.9  # of the 300, near the bottom edge
    x, y = said("what is written in the top left corner?")
    assert x <= 0.25 and y <= 0.25
