"""Questions about a whole video ("what is this video about?") are answered from moments spread over it, in
time order, one thing said or shown from each (qa/overview.py); descriptions that only use such words
("the summary slide") are searched as words."""

from __future__ import annotations

import pytest

from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.moments import Moment
from streammm.qa.overview import MIN_PART_S, asks_overview, parts
from streammm.qa.naming import name_words
from streammm.qa.service import SearchRequest, understood
from streammm.records import OcrLine, Word

from test_answers import KeywordEncoder, clip, run


@pytest.mark.parametrize(
    "question",
    [
        "what is this video about?",
        "What's the bikes video about",
        "summarize the slideshow",
        "Can you summarise it?",
        "give me a quick overview",
        "tl;dr",
        "Summary please",
        "summary of the city bikes video",
        "what happens in the video?",
        "what are the key points?",
        "what was the talk about",
    ],
)
def test_a_request_for_a_summary_is_an_overview(question: str):
    assert asks_overview(question)
    asked = understood(SearchRequest(question))
    assert asked.overview and not asked.named_time


@pytest.mark.parametrize(
    "question",
    [
        "the summary slide",
        "an outline is drawn on the board",
        "a recap of the game is shown",
        "what is the man in the video talking about",
        "a slide listing the key points",
        "the speaker summarizes the results",
        "what happens in the video at 1:30",  # a named time wins
        "a red motorcycle",
        "",
    ],
)
def test_words_about_summaries_that_ask_for_none_are_searched(question: str):
    assert not understood(SearchRequest(question)).overview


def test_a_range_the_caller_gives_is_not_an_overview():
    assert not understood(SearchRequest("what is this video about?", start_s=0.0, end_s=10.0)).overview


def test_a_video_is_cut_into_equal_parts_no_shorter_than_a_clip():
    assert parts(0.0, 25.0, 5) == [(0.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.0), (20.0, 25.0)]
    assert parts(3.0, 13.0, 5) == [(3.0, 8.0), (8.0, 13.0)]
    assert parts(0.0, 1.0, 5) == [(0.0, 1.0)]  # shorter than a part: one
    assert all(end - start >= MIN_PART_S for start, end in parts(0.0, 3600.0, 7))


def test_the_overview_answer_says_one_thing_from_each_moment_in_time_order():
    """The moments come spread over the video; from each, the whole sentence with the most to say (not a
    piece of one, not the slide counter), each text once."""
    early = clip(
        "talk", 0.0, 5.0,
        words=(Word(0.2, 0.5, "Welcome"), Word(0.5, 0.8, "to"), Word(0.8, 1.2, "the"), Word(1.2, 1.8, "harbour"), Word(1.8, 2.3, "tour.")),
        ocr_lines=(OcrLine(0.0, 5.0, "1 / 3"),),
    )
    middle = clip("talk", 10.0, 15.0, ocr_lines=(OcrLine(10.0, 15.0, "Ferries leave every twenty minutes"), OcrLine(10.0, 15.0, "2 / 3")))
    late = clip(
        "talk", 20.0, 25.0,
        words=(Word(20.1, 20.5, "and"), Word(20.5, 21.0, "then"), Word(22.0, 22.4, "The"), Word(22.4, 22.9, "lighthouse"), Word(22.9, 23.3, "closes"), Word(23.3, 23.8, "at"), Word(23.8, 24.3, "dusk.")),
    )
    moments = [Moment("talk", 20.0, 25.0, 1.0, (late,)), Moment("talk", 0.0, 5.0, 1.0, (early,)), Moment("talk", 10.0, 15.0, 1.0, (middle,))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=3), "what is this video about?", moments)
    said = ["Welcome to the harbour tour.", "Ferries leave every twenty minutes", "The lighthouse closes at dusk."]
    assert [done.text.index(s) for s in said] == sorted(done.text.index(s) for s in said)
    assert "1 / 3" not in done.text and "and then" not in done.text
    assert [round(c.start_s) for c in done.citations] == [0, 10, 22]


def test_a_logo_or_a_clock_on_screen_all_along_tells_no_part_of_the_video():
    """The news-style video: its first part (0-4 s) holds nothing said, a channel logo and a clock there all 30 s,
    and a photo; "summarize the call" had begun with "LIVE 18:05". The photo's tags tell that part; a title there
    all along, long enough to say something, still may."""
    logo, clock = OcrLine(0.0, 30.0, "NEWS 24", x=0.07, y=0.05), OcrLine(0.0, 30.0, "LIVE 18:05", x=0.9, y=0.05)
    first = clip("news", 0.0, 4.0, ocr_lines=(OcrLine(0.0, 4.0, "NEWS 24", x=0.07, y=0.05), OcrLine(0.0, 4.0, "LIVE 18:05", x=0.9, y=0.05)), tags=("espresso",))
    later = clip("news", 24.0, 28.0, words=(Word(24.2, 24.8, "Hello"), Word(24.8, 25.3, "Chicago.")), ocr_lines=(logo, clock))
    moments = [Moment("news", 0.0, 4.0, 1.0, (first,)), Moment("news", 24.0, 28.0, 1.0, (later,))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "summarize the call", moments)
    assert done.text.startswith("At [news @ 00:00–00:04] the frames show: espresso."), done.text
    assert "LIVE 18:05" not in done.text and "NEWS 24" not in done.text, done.text
    titled = clip("slides", 0.0, 4.0, ocr_lines=(OcrLine(0.0, 30.0, "Sense and Sensibility, chapter one", x=0.5, y=0.06),), tags=("tabby",))
    end = clip("slides", 26.0, 30.0, ocr_lines=(OcrLine(0.0, 30.0, "Sense and Sensibility, chapter one", x=0.5, y=0.06),))
    _, book = run(ExtractiveAnswerer(KeywordEncoder()), "what is this video about?", [Moment("slides", 0.0, 4.0, 1.0, (titled,)), Moment("slides", 26.0, 30.0, 1.0, (end,))])
    assert "Sense and Sensibility, chapter one" in book.text, book.text


def test_a_stream_is_named_by_the_words_of_its_id():
    assert name_words("city-bikes_2") == {"city", "bikes"}
    assert name_words("cam-1") == {"cam"} and name_words("the-1-2") == set()
