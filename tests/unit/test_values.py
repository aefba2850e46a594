"""Values a question names exactly (streammm.qa.values): a moment that does not show or say a quoted text, a
written time or a numbered thing does not answer it. On hand-made clips; the service test uses a stand-in store
that returns a fixed ranking (the check is about the moments the service keeps, not about retrieval)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streammm.qa.moments import Moment
from streammm.qa.service import QueryService, SearchRequest
from streammm.qa.values import Value, asked_values, showing
from streammm.records import Clip, OcrLine, ScoredClip, Word
from tests.unit.test_moment_order import RankedStore, UnitEncoder


def clip(start: float, *, shown: tuple[str, ...] = (), said: str = "", stream: str = "s", cosine: float = 0.8) -> Clip:
    words = tuple(Word(start + 0.3 * i, start + 0.3 * i + 0.25, w) for i, w in enumerate(said.split()))
    lines = tuple(OcrLine(start, start + 4.0, text) for text in shown)
    vector = np.array([cosine, np.sqrt(1 - cosine**2)], dtype=np.float32)
    return Clip(f"{stream}-{start}", stream, start, start + 4.0, "p", words=words, ocr_lines=lines, vectors={"joint": vector})


def moment(c: Clip) -> Moment:
    return Moment(c.stream_id, c.start_s, c.end_s, 1.0, (c,))


def kept(question: str, *clips: Clip) -> list[float]:
    return [m.start_s for m in showing(asked_values(question), [moment(c) for c in clips])]


@pytest.mark.parametrize(
    ("question", "values"),
    [
        ("the title says chapter two", [Value("numbered", ("chapter", "2"))]),
        ("the timecode reads 00:00:20:00", [Value("time", ("0", "0", "20", "0"))]),
        ("the top bar clock shows 18:39", [Value("time", ("18", "39"))]),
        ("the terminal prints 'command not found'", [Value("quote", ("command", "not", "found"))]),
        ("a dialog asks “Does the display look OK?”", [Value("quote", ("does", "the", "display", "look", "okay"))]),
        ("what is on slide 7?", [Value("numbered", ("slide", "7"))]),
        # nothing named exactly: a description, an apostrophe, a number that counts nothing, a version
        ("a red motorcycle", []),
        ("the user's mouse drags the monitor", []),
        ("three people walk past", []),
        ("python 3.11 is installed", []),
        ("the second half of the match", []),
    ],
)  # fmt: skip
def test_the_values_a_question_names(question, values):
    assert list(asked_values(question)) == values


def test_a_numbered_thing_is_not_answered_by_another_number():
    """The slideshow's title reads "chapter one" throughout; asked for chapter two, no moment answers."""
    title = "Sense and Sensibility, chapter one"
    assert kept("the title says chapter two", clip(0.0, shown=(title,)), clip(4.0, shown=(title, "slide 2 of 5"))) == []
    assert kept("the title says chapter one", clip(0.0, shown=(title,)), clip(4.0, shown=("a cat",))) == [0.0]
    assert kept("chapter 2 begins", clip(0.0, shown=(title,)), clip(30.0, shown=("Chapter 2",))) == [30.0]
    assert kept("what is on slide 3?", clip(0.0, shown=("slide 1 of 5",)), clip(10.0, shown=("Slide 3 / 5",))) == [10.0]


def test_a_slide_counter_numbers_its_slide():
    """A deck whose counters read "3/5" (no word "slide"): slide 3 is where the counter says 3, and a slide 9 of
    a five-slide deck is nowhere. A counter numbers slides, pages and steps, not chapters."""
    deck = [clip(8.0 * i, shown=(f"Title {i + 1}", f"{i + 1}/5")) for i in range(5)]
    assert kept("what is on slide 3?", *deck) == [16.0]
    assert kept("when is slide 9 shown?", *deck) == []
    assert kept("the page 2 of the handout", *deck) == [8.0]
    assert kept("chapter 2 begins", *deck) == [0.0, 8.0, 16.0, 24.0, 32.0]


def test_a_number_that_the_video_does_not_write_tells_nothing():
    """A video whose slides show no number cannot tell slide 3 from slide 1: its moments stay."""
    assert kept("what is on slide 3?", clip(0.0, shown=("Wind power",)), clip(5.0, shown=("Batteries",))) == [0.0, 5.0]
    assert kept("the clock shows 18:39", clip(0.0, shown=("Displays",)), clip(4.0, said="it is late")) == [0.0, 4.0]


def test_a_written_time_must_be_the_one_asked_for():
    assert kept("the timecode reads 00:00:20:00", clip(0.0, shown=("00:00:07:00",)), clip(8.0, shown=("00:00:15:24",))) == []
    # a timecode's frames go by faster than frames are read: 00:00:03:12 is shown with 00:00:03:xx
    assert kept("00:00:03:12", clip(0.0, shown=("00:00:02:20",)), clip(3.0, shown=("00:00:03:08",))) == [3.0]
    assert kept("the top bar clock shows 18:39", clip(0.0, shown=("Wed 18:38",)), clip(30.0, shown=("Wed 18:39",))) == [30.0]


def test_a_quote_must_be_shown_or_said_allowing_for_misreadings():
    listing = clip(0.0, shown=("tiffany@laptop:~$ ls /usr", "bin games include lib local sbin share src"))
    assert kept("the terminal prints 'command not found'", listing) == []
    assert kept("someone types 'ls /usr'", listing) == [0.0]
    # a word or two heard or read wrongly: "amiable" heard as "a amiable", "Configuration" read as "Configiration"
    speech = clip(0.0, said="had he married a more a amiable woman he might have been made still more respectable")
    assert kept("the narrator says 'had he married a more amiable woman he might have been made more respectable than he was'", speech) == [0.0]
    assert kept("the button says 'Keep This Configuration'", clip(0.0, shown=("Keep This Configiration",))) == [0.0]
    assert kept("the word 'selfish'", clip(0.0, said="how much there might be prudently in his power")) == []
    assert kept("the word 'prudently'", clip(0.0, said="how much there might be prudent in his power")) == [0.0]  # one stem


def test_many_moments_keep_only_those_showing_the_value_in_their_order():
    """The load case: a 2-hour recording's 1,800 timecodes, asked for one; and 1,800 moments asked for a quote
    that half of them say."""
    clips = [clip(4.0 * i, shown=(f"00:{i // 60 % 60:02d}:{i % 60:02d}:00",)) for i in range(1800)]
    assert kept("the timecode reads 00:12:34:00", *clips) == [4.0 * (12 * 60 + 34)]
    said = [clip(4.0 * i, said="we left at dawn" if i % 2 else "we stayed home") for i in range(1800)]
    assert kept("when does he say 'left at dawn'?", *said) == [4.0 * i for i in range(1, 1800, 2)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abc 0123456789:.'\"“”‘’slidechapter-/", max_size=80), st.text(alphabet="ab 019:.'slide", max_size=60))
def test_any_question_and_text_is_read_without_error(question, shown):
    """Bad input: whatever the question and the moments' words, the values are read and compared; a value's words
    are never empty, and the moments kept are some of those given, in their order."""
    values = asked_values(question)
    assert all(v.words for v in values)
    moments = [moment(clip(0.0, shown=(shown,))), moment(clip(4.0, said=shown))]
    assert all(m in moments for m in showing(values, moments))


def test_the_service_says_no_moment_matched_where_none_shows_the_value():
    """Close in meaning (the same terminal, the same title) is not the value asked for: the service returns no
    moments, which clients are told as NO_MATCH; a question that names a time is answered by what is there."""
    terminal = clip(0.0, shown=("tiffany@laptop:~$ ls /usr", "bin games include lib local sbin share"), stream="term")
    title = clip(0.0, shown=("Sense and Sensibility, chapter one",), stream="slides")
    service = QueryService(RankedStore([ScoredClip(terminal, 0.03), ScoredClip(title, 0.02)]), UnitEncoder())
    assert service.moments(SearchRequest("the terminal prints 'command not found'")) == []
    assert service.moments(SearchRequest("the title says chapter two")) == []
    assert [m.stream_id for m in service.moments(SearchRequest("the title says chapter one"))] == ["slides"]
    assert [m.stream_id for m in service.moments(SearchRequest("the terminal shows 'ls /usr'"))] == ["term"]
