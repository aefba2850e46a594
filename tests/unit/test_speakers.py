"""Who said it (qa/speakers.py): a question that asks who is answered with the name the lower third shows while
the words are said. Lines and moments are made by hand."""

from __future__ import annotations

import asyncio

import pytest

from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.moments import Moment
from streammm.qa.speakers import asks_who, named_while
from streammm.records import OcrLine, Word
from tests.unit.test_answers import KeywordEncoder, clip


@pytest.mark.parametrize(
    ("question", "who"),
    [
        ("who says they heard a beep?", True),
        ("Who's talking at 0:25?", True),
        ("at the end, what is said and who says it", True),
        ("tell me who spoke first", True),
        ("which speaker mentions Chicago?", True),
        ("whose voice is heard?", True),
        ("someone described as decent fellow who means well", False),  # a description with "who" in it
        ("the man who sold the world", False),
        ("what is said about the who concert", False),
        ("", False),
    ],
)
def test_a_question_asks_who_only_where_it_asks_it(question, who):
    assert asks_who(question) is who


LOWER_THIRD_Y, SUBTITLE_Y = 0.75, 0.91
CAPTIONS = [
    OcrLine(10.8, 14.2, "DIANE New Jersey", x=0.15, y=LOWER_THIRD_Y),
    OcrLine(14.48, 18.0, "SHEILA Texas", x=0.12, y=LOWER_THIRD_Y),
    OcrLine(10.8, 12.56, "Okay, then I thought you know, I heard a beep.", x=0.5, y=SUBTITLE_Y),
    OcrLine(0.0, 30.0, "NEWS 24", x=0.07, y=0.05),
    OcrLine(20.0, 24.7, "YAMAHA", x=0.5, y=0.67),  # a brand on a motorcycle in the picture, in the band
    OcrLine(20.0, 24.7, "Neither did I.", x=0.5, y=0.8),  # a subtitle placed higher: a sentence, not a name
]


def test_the_name_shown_over_most_of_what_was_said_is_who_said_it():
    assert named_while(11.4, 12.5, CAPTIONS).text == "DIANE New Jersey"
    assert named_while(14.6, 17.7, CAPTIONS).text == "SHEILA Texas"
    # across a change of speaker: the caption shown for most of it; none for over half: nobody
    assert named_while(13.5, 16.0, CAPTIONS).text == "SHEILA Texas"
    assert named_while(13.0, 16.5, [c for c in CAPTIONS if c.text != "SHEILA Texas"]) is None
    assert named_while(21.0, 23.0, CAPTIONS) is None  # "YAMAHA" and "Neither did I." are no names
    assert named_while(1.0, 2.0, CAPTIONS) is None  # the logo is at the top
    unplaced = [OcrLine(10.8, 14.2, "DIANE New Jersey")]  # a store made before lines kept their place (x, y: -1)
    assert named_while(11.4, 12.5, unplaced) is None  # where it was is unknown: no lower third to read


def test_many_lines_are_read_once_each():
    """The load case: 20,000 captions (a long stream's moments) read in one pass for a sentence said."""
    lines = [OcrLine(t / 10, t / 10 + 3.0, f"Caption {t} Name", x=0.2, y=LOWER_THIRD_Y) for t in range(20_000)]
    found = named_while(100.0, 101.0, lines)
    assert found is not None and found.text == "Caption 980 Name"  # the first of those shown all the while


def answer(question: str, moments: list[Moment]) -> str:
    async def go():
        return [e async for e in ExtractiveAnswerer(KeywordEncoder()).answer(question, moments)][-1]

    return asyncio.run(go()).text


def test_who_said_it_is_answered_with_the_lower_third_and_other_questions_are_not():
    said = [("Okay,", 10.9), ("I", 11.4), ("heard", 11.6), ("a", 11.9), ("beep.", 12.1)]
    words = tuple(Word(t, t + 0.25, w) for w, t in said)
    call = clip("news", 10.0, 14.0, words=words, transcript=" ".join(w for w, _ in said), ocr_lines=tuple(CAPTIONS[:4]))
    moments = [Moment("news", 10.9, 12.4, 1.0, (call,), relevance=0.6, evidence="speech")]
    who = answer("who says they heard a beep?", moments)
    assert "The lower third then reads: “DIANE New Jersey”." in who.split(" At [")[0], who
    what = answer("what did they hear?", moments)
    assert "lower third then reads" not in what, what
    none = [Moment("news", 10.9, 12.4, 1.0, (clip("news", 10.0, 14.0, words=words, transcript="Okay, I heard a beep."),), relevance=0.6)]
    assert "lower third" not in answer("who says they heard a beep?", none)  # no caption: what was said, as before
