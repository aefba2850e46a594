"""Questions that ask for a list (qa/listing.py), and the list answer: every piece of evidence like the best,
in the order it came."""

from __future__ import annotations

import re

import pytest

from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.listing import asks_list, listed_text
from streammm.qa.moments import Moment
from streammm.records import OcrLine, Word
from tests.unit.test_answers import KeywordEncoder, clip, run


@pytest.mark.parametrize(
    ("question", "listed"),
    [
        ("list all the slides", "slides"),
        ("List the cards read", "cards read"),
        ("what are all the settings shown?", "settings shown?"),
        ("show me all the captions", "captions"),
        ("please enumerate every command typed", "command typed"),
        ("which cards are read out?", "cards are read out?"),
        ("what settings were changed?", "settings were changed?"),
    ],
)
def test_a_list_is_asked_and_what_to_list_is_the_rest(question, listed):
    assert asks_list(question) and listed_text(question).split() == listed.split()


@pytest.mark.parametrize("question", ["what is the name of the dog?", "which bus was it?", "what glass are they using?", "list", "the shopping list on the fridge", "who named the ship?", ""])
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
    _, plural = run(ExtractiveAnswerer(KeywordEncoder()), "which slides are shown?", moments)  # things, plural: a list
    assert [c.start_s for c in plural.citations] == [0.0, 5.0, 10.0, 15.0, 20.0], plural.text
    _, best = run(ExtractiveAnswerer(KeywordEncoder()), "which slide is shown?", moments)
    assert len(best.citations) <= 3  # not a list: the best few


def test_a_list_of_things_said_leads_with_the_best_thing_said_not_a_title_that_shares_the_word(settings):
    """The held-out card game: the title card "Card game night" shares "card" with "name the cards read", and had
    been the whole answer (a list is of like things: lines shown). The cards are read out, so the list is of what
    was said, in the order it came. The bundled question encoder scores them (the stand-in's hashed words would)."""
    from streammm.models.registry import create_question_encoder

    answerer = ExtractiveAnswerer(create_question_encoder(settings.models))
    cards = ["ten of clubs", "four queen of clubs", "seven of clubs", "eight of spades", "seven of hearts"]
    words = tuple(Word(12.0 + 2 * i + j * 0.3, 12.2 + 2 * i + j * 0.3, w + ("." if j == len(card.split()) - 1 else ""))
                  for i, card in enumerate(cards) for j, w in enumerate(card.split()))
    game = clip("cards", 11.5, 22.0, words=words, transcript=" ".join(w.text for w in words),
                ocr_lines=(OcrLine(11.5, 12.0, "Card game night", x=0.5, y=0.5),))
    moments = [Moment("cards", 11.5, 22.0, 1.0, (game,), relevance=0.8, evidence="visual")]
    for question in ("name the cards read", "which cards are read out?"):
        _, done = run(answerer, question, moments)
        said = re.findall(r"the speaker says: “([^”]*)”", done.text)
        assert "Card game night" not in done.text and len(said) >= 3, done.text
        assert [c.start_s for c in done.citations] == sorted(c.start_s for c in done.citations)


def test_hostile_list_questions_are_read_in_one_pass():
    assert asks_list("list " * 50_000 + "the slides")
    assert not asks_list("what are all " * 30_000)
    assert listed_text("show me all the " * 20_000).strip() == ""
