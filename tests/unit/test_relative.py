"""Questions about what came just after or before something (streammm.qa.relative)."""

from __future__ import annotations

import pytest

from streammm.qa.moments import Moment
from streammm.qa.relative import RELATIVE_S, Relative, relative_event, tells_the_event, window


@pytest.mark.parametrize(
    "question, after, event, asked",
    [
        ("what is listed after ls /usr is typed?", True, "ls /usr is typed", "what is listed"),
        ("what happens right after the settings window is closed?", True, "the settings window is closed", "what happens"),
        ("what is said before the dialog appears?", False, "the dialog appears", "what is said"),
        ("After the dialog appears, what is shown?", True, "the dialog appears", "what is shown?"),
        ("an empty blue desktop after the settings window has been closed", True, "the settings window has been closed", "an empty blue desktop"),
    ],
)
def test_an_event_is_read_with_what_is_asked_about_its_time(question, after, event, asked):
    assert relative_event(question) == Relative("after" if after else "before", event, asked)


@pytest.mark.parametrize(
    "question",
    ["what is shown after 2 minutes?", "what is said before 0:30", "what happens after that?", "what happens after all",
     "the day after", "before it", "what is on screen before the end?", "who speaks first?", ""],
)  # fmt: skip
def test_times_and_words_that_name_no_event_are_not_events(question):
    assert relative_event(question) is None


@pytest.mark.parametrize(
    "question, event, asked",
    [
        ("what is said while the fruit is shown?", "the fruit is shown", "what is said"),
        ("what is on screen when he says ask not?", "he says ask not", "what is on screen"),
        ("who is speaking during the football photo?", "the football photo", "who is speaking"),
        ("When the rocket is shown, what does the caption say?", "the rocket is shown", "what does the caption say?"),
    ],
)
def test_a_question_about_what_else_was_there_while_something_happened_is_read(question, event, asked):
    assert relative_event(question) == Relative("during", event, asked)


@pytest.mark.parametrize(
    "question",
    [
        "the narrator says selfish when the squirrel is shown",  # describes one moment: its words find it
        "a cyclist waits while the lights are red",
        "when is amiable last said?",
        "what happens during the video?",
        "what is said during the whole talk",
        "what is said during the first minute?",  # a time
    ],
)
def test_while_or_when_outside_a_question_about_what_else_was_there_names_no_event(question):
    assert relative_event(question) is None


def test_after_words_said_is_after_they_end_and_after_something_shown_is_from_when_it_came():
    said = Moment("s", 10.0, 12.0, 1.0, (), evidence="speech")
    shown = Moment("s", 10.0, 30.0, 1.0, (), evidence="ocr")  # a typed command stays on screen
    after, before = Relative("after", "x", ""), Relative("before", "x", "")
    assert window(after, said) == (12.0, 12.0 + RELATIVE_S) and window(after, shown) == (10.0, 10.0 + RELATIVE_S)
    assert window(Relative("during", "x", ""), shown) == (10.0, 30.0)  # the event's own seconds
    assert window(before, said) == (10.0 - RELATIVE_S, 10.0) and window(before, Moment("s", 4.0, 5.0, 1.0, ())) == (0.0, 4.0)


def test_after_a_part_of_the_video_is_after_it_ends():
    """A lecture deck: "what comes after the solar slide?" had been answered with the solar slide (8-16 s) itself:
    after something shown was from when it came. A slide ends when the next begins."""
    slide = Moment("deck", 8.0, 16.0, 1.0, (), evidence="ocr")
    after = relative_event("what comes after the solar slide?")
    assert after is not None and after.part and window(after, slide) == (16.0, 16.0 + RELATIVE_S)
    shown = relative_event("what is said after the dialog appears?")
    assert shown is not None and not shown.part and window(shown, slide) == (8.0, 8.0 + RELATIVE_S), "from when it came"


def test_after_something_typed_is_after_the_typing():
    """Asked when it was typed, a line's moment is its typing, until the screen next changed (the command's output);
    what came after is from then. The moment had been the seconds the line stayed, and after it from when it came."""
    typing = Moment("terminal", 3.93, 5.23, 1.0, (), evidence="ocr")
    typed = relative_event("what is listed after ls /usr is typed?")
    assert typed is not None and typed.typed and window(typed, typing) == (5.23, 5.23 + RELATIVE_S)
    assert not Relative("after", "the slide counter reads 3", "").part  # a slide's words, not a slide


def test_the_event_itself_is_told_apart_from_what_came_after_it():
    around = Relative("after", "the settings window is closed", "what happens")
    assert tells_the_event(around, "Close Window") and not tells_the_event(around, "Wed 18:39")
    before = Relative("before", "the slide counter says 3 of 5", "what is shown")
    assert not tells_the_event(before, "slide 1 of 5")  # half the event's words: another slide's counter


def test_the_event_is_told_only_by_evidence_of_its_kind():
    """"The lower third shows SHEILA" is on screen: a sentence that says "Sheila" is not the event, the line is."""
    shown = relative_event("what is said when the lower third shows SHEILA?")
    assert shown is not None and shown.said is False
    assert tells_the_event(shown, "SHEILA Texas", said=False) and not tells_the_event(shown, "and I'm Sheila in Texas", said=True)
    spoken = relative_event("what is on screen when he says ask not?")
    assert spoken is not None and spoken.said is True and not tells_the_event(spoken, "ask not", said=False)
    assert relative_event("what happens after the fire?").said is None  # either kind may tell it
    assert tells_the_event(relative_event("what happens after the fire?"), "the fire", said=True)


def test_hostile_questions_are_read_in_one_pass():
    assert relative_event("what " * 100_000) is None
    long = relative_event("what " * 50_000 + "after " + "the window closes " * 20_000)
    assert relative_event("what is said when the window closes " * 20_000).when == "during"  # read in one pass
    assert long is not None and long.when == "after" and long.event.startswith("the window closes")


def test_what_came_just_after_an_event_is_said_first():
    """The held-out card game: "what is said after ten of clubs?" is asked of the 10 s after it (13-23 s), where five
    cards are read; the answer had said three of them by score, and the next card read ("four queen of clubs") was
    not one. What is nearest the event comes first; before it, what is nearest its start."""
    import asyncio

    from streammm.qa.extractive import ExtractiveAnswerer
    from streammm.records import Word
    from tests.unit.test_answers import KeywordEncoder, clip

    cards = [("four queen of clubs.", 14.3), ("seven of clubs.", 17.5), ("five five.", 19.9), ("eight of spades.", 21.0), ("four of clubs.", 22.0)]
    words = tuple(Word(t + 0.25 * i, t + 0.25 * (i + 1), w) for text, t in cards for i, w in enumerate(text.split()))
    after = Moment("cards", 13.0, 23.0, 1.0, (clip("cards", 13.0, 23.0, words=words),), relevance=0.5)

    async def answer(question: str) -> str:
        return [e async for e in ExtractiveAnswerer(KeywordEncoder()).answer(question, [after])][-1].text

    assert "four queen of clubs." in asyncio.run(answer("what is said after ten of clubs?")).split(" At [")[0]
    assert "four of clubs." in asyncio.run(answer("what is said before seven of hearts?"))  # the same 10 s, before 23 s
