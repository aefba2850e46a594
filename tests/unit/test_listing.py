"""Questions that ask for a list (qa/listing.py), and the list answer: every piece of evidence like the best,
in the order it came."""

from __future__ import annotations

import pytest

from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.listing import asks_list, listed_text
from streammm.qa.moments import Moment
from streammm.records import OcrLine
from tests.unit.test_answers import KeywordEncoder, clip, run


@pytest.mark.parametrize(
    ("question", "listed"),
    [
        ("list all the slides", "slides"),
        ("List the cards read", "cards read"),
        ("what are all the settings shown?", "settings shown?"),
        ("show me all the captions", "captions"),
        ("please enumerate every command typed", "command typed"),
    ],
)
def test_a_list_is_asked_and_what_to_list_is_the_rest(question, listed):
    assert asks_list(question) and listed_text(question).split() == listed.split()


@pytest.mark.parametrize("question", ["what is the name of the dog?", "list", "the shopping list on the fridge", "who named the ship?", ""])
def test_other_questions_ask_for_no_list(question):
    assert not asks_list(question)


def test_a_list_answer_says_every_like_piece_in_the_order_it_came():
    """Five slides, each a moment of its own, found best first in another order; a line of another video
    that scores about as well ("All Settings": "all" is the asking, not the asked). The answer had said three
    counters, best first."""
    counters = [clip("slides", 5.0 * n, 5.0 * n + 4, ocr_lines=(OcrLine(5.0 * n, 5.0 * n + 5, f"slide {n + 1} of 5", x=0.5, y=0.9),)) for n in range(5)]
    other = clip("settings", 0.0, 4.0, ocr_lines=(OcrLine(0.0, 4.0, "All Settings", x=0.2, y=0.2),))
    moments = [Moment("slides", c.start_s, c.end_s, 1.0 - i / 10, (c,), relevance=0.5) for i, c in enumerate(counters[::-1])]
    moments.insert(2, Moment("settings", 0.0, 4.0, 0.8, (other,), relevance=0.5))
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "list all the slides", moments)
    assert [c.start_s for c in done.citations] == [0.0, 5.0, 10.0, 15.0, 20.0], done.text
    assert "All Settings" not in done.text
    _, best = run(ExtractiveAnswerer(KeywordEncoder()), "which slides are shown?", moments)
    assert len(best.citations) <= 3  # not a list: the best few


def test_hostile_list_questions_are_read_in_one_pass():
    assert asks_list("list " * 50_000 + "the slides")
    assert not asks_list("what are all " * 30_000)
    assert listed_text("show me all the " * 20_000).strip() == ""
