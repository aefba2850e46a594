"""A question that names a media time is answered from that time (qa/when.py): "what is on screen at
1:30?" searches the seconds around 1:30 and gives one moment over them per stream however weakly the other
words match (what its answer says: test_answers.py). A time the question asks to find, or a time of day,
is not taken."""

from __future__ import annotations

import pytest

from streammm.qa.moments import Moment, over_range
from streammm.qa.service import QueryService, SearchRequest, in_order_asked, with_named_time
from streammm.qa.when import EDGE_S, NamedTime, first_or_last_thing, named_time, occurrence, seconds, without_part
from streammm.records import Clip, OcrLine, ScoredClip


@pytest.mark.parametrize(
    ("question", "span"),
    [
        ("what is on screen at 0:12?", (10.0, 14.0)),
        ("what does the narrator say at 00:08", (6.0, 10.0)),
        ("what happens at 1:02:03?", (3721.0, 3725.0)),
        ("what is shown around the 1:05 mark", (63.0, 67.0)),
        ("what is shown @1:05", (63.0, 67.0)),
        ("what's shown at 5 s", (3.0, 7.0)),
        ("who speaks at 1 min 30 s?", (88.0, 92.0)),
        ("what's at 1h2m5s", (3723.0, 3727.0)),
        ("what is shown 30 seconds in", (28.0, 32.0)),
        ("what happens at minute 3", (178.0, 182.0)),
        ("is there a cat at 0:01", (0.0, 3.0)),
        ("what is said between 0:10 and 0:20?", (10.0, 20.0)),
        ("what does he say from 1:30 to 1:00", (60.0, 90.0)),
        ("0:10-0:20: what is said", (10.0, 20.0)),
        ("what happens in the first minute?", (0.0, 60.0)),
        ("in the first 30 seconds, what is shown", (0.0, 30.0)),
        ("what happens after 2 minutes", (120.0, None)),
        ("what is said before 10 seconds", (None, 10.0)),
        ("how does the video start?", (0.0, 10.0)),
        ("what is said at the beginning", (0.0, 10.0)),
        ("what is shown at the very start of the recording", (0.0, 10.0)),
        ("in the first few seconds, who speaks", (0.0, 10.0)),
        ("what is on screen in the first moments", (0.0, 10.0)),
        ("what happens in the first 2 seconds", (0.0, 2.0)),
    ],
)
def test_a_time_the_question_names_is_the_range_searched(question: str, span):
    found = named_time(question)
    assert found is not None and (found.start_s, found.end_s) == span


@pytest.mark.parametrize(
    ("question", "last_s"),
    [
        ("what happens at the end?", 10.0),
        ("what is shown at the end of the video", 10.0),
        ("how does it end", 10.0),
        ("what is on screen right now?", 10.0),  # a live stream's end is now
        ("what is said in the last 30 seconds", 30.0),
        ("what happens in the final minute", 60.0),
        ("the closing seconds", 10.0),
        ("what is said in the last few minutes", 180.0),
        ("towards the end of the talk, what slide is shown", 10.0),
        ("the credits roll at the end", 10.0),  # a description of the end is searched there
        ("at the end, what is said and who says it", 10.0),
    ],
)
def test_the_end_is_counted_back_from_each_streams_end(question: str, last_s: float):
    found = named_time(question)
    assert found is not None and (found.start_s, found.end_s, found.last_s) == (None, None, last_s)
    # "At the end" asks for what is there at the end itself (the answer prefers what is nearest it); "in the
    # last 30 seconds" for all of that stretch.
    assert found.edge == (None if "last" in question or "final" in question or "closing" in question else "end")


def test_the_beginning_is_an_edge_and_the_first_minute_a_stretch():
    assert named_time("what timecode is shown at the beginning?") == NamedTime(0.0, EDGE_S, edge="start")
    assert named_time("how does the video start?") == NamedTime(0.0, EDGE_S, edge="start")
    assert named_time("what happens in the first minute?") == NamedTime(0.0, 60.0)
    assert named_time("what is the first thing said?") == NamedTime(0.0, EDGE_S)  # the earliest sentence: first_or_last_thing


@pytest.mark.parametrize(
    ("question", "edge"),
    [
        ("what is the title of the first slide?", "start"),
        ("what does the opening scene show?", "start"),
        ("what is on the last page?", "end"),
        ("describe the final scene", "end"),
        ("what is the last slide shown?", "end"),  # and its occurrence: the latest of the slides there
        ("the first slide", None),  # a description: words to find
        ("who is the first person on stage?", None),  # a person is no part of the video
        ("when is the first card read?", None),  # when: the first occurrence, wherever it is
    ],
)
def test_the_first_or_last_part_of_a_video_asked_about_is_at_its_edge(question: str, edge):
    """The held-out slides carry no counter: "what is the title of the first slide?" had been answered with the
    second slide's caption (the moments that match "slide" in time order), "what is on the last slide?" with
    speech from the middle. The first (last) of the parts a video comes in is at its beginning (end)."""
    found = named_time(question)
    assert (found.edge if found is not None else None) == edge


@pytest.mark.parametrize(
    ("question", "rest"),
    [
        ("what animal is on the first slide?", "what animal is ?"),
        ("what color is the car in the final scene?", "what color is the car ?"),
        ("who speaks in the final scene?", "who speaks in the final scene?"),  # "speaks" is a cue: no content word left
        ("what is on the first slide?", "what is on the first slide?"),  # nothing else says what is asked
        ("the first slide", "the first slide"),  # a description: words to find
    ],
)
def test_the_words_that_name_the_part_asked_about_are_no_words_of_the_answer(question: str, rest: str):
    """"What animal is on the first slide?" had been answered "slide 1 of 5": the counter shares "slide"."""
    assert without_part(question) == rest


@pytest.mark.parametrize(
    "question",
    [
        "at the end of the tunnel a light shines",  # the end of something in the picture, not of the video
        "the runners crouch at the start line",
        "the opening credits",
        "the currently selected window is highlighted",  # "currently" describes; "right now" asks
        "at the beginning of the war",
        "the last slide",
        "the end credits",
        "when does the video end?",  # the end is what is asked for
        "the final score",
        "what is on screen at the moment he says hello",  # a moment to find
        "on-screen timecode reads 00:00:07:00",  # a time to find on screen (a dev query)
        "when does the clock read 10:45?",
        "what happens at 4:30 pm",  # a time of day
        "the slide counter reads 3 of 5",
        "a man at 30",
        "what's shown at 3 moments",
        "the 5 minutes video",
        "4:30",
        "at 1" + "0" * 400 + " seconds",  # infinite
        "at " + "9" * 900 + " s",
        "1" * 1000,
        "",
    ],
)
def test_times_that_are_not_a_media_time_to_search_are_words(question: str):
    assert named_time(question) is None


def test_times_read_as_seconds():
    assert seconds("1:30") == 90 and seconds("1:02:03.5") == 3723.5 and seconds("2 minutes and 10 seconds") == 130 and seconds("1h5m") == 3900


def test_a_range_the_caller_gives_is_kept():
    asked = SearchRequest("what is on screen at 0:12?", start_s=30.0, end_s=40.0)
    assert with_named_time(asked) == asked
    named = with_named_time(SearchRequest("what is on screen at 0:12?"))
    assert (named.start_s, named.end_s, named.named_time, named.text) == (10.0, 14.0, True, "what is on screen at 0:12?")
    assert with_named_time(SearchRequest("a red motorcycle")).named_time is False
    end = with_named_time(SearchRequest("what is shown at the end?"))
    assert (end.start_s, end.end_s, end.last_s, end.named_time) == (None, None, 10.0, True)


def clip(stream: str, start: float, end: float, **fields) -> Clip:
    return Clip(clip_id=f"{stream}-{start:g}", stream_id=stream, start_s=start, end_s=end, profile="p", **fields)


def test_a_named_time_is_one_moment_per_stream_over_it_however_weak_the_match():
    """Clips of 8-12, 10-14 and 12-16 s match "what is on screen" weakly (relevance ~0.01, under a 0.05
    cut). Asked at 0:12 they are one moment of 10-14 s (its first clip shows 10 s); asked without the time
    they are refused."""
    found = [ScoredClip(clip("a", s, s + 4.0, ocr_lines=(OcrLine(s, s + 4.0, f"slide {s:g}"),)), 1.0 / (1 + i)) for i, s in enumerate((12.0, 10.0, 8.0))]
    found.append(ScoredClip(clip("b", 10.0, 14.0), 0.1))
    service = QueryService(None, None, min_relevance=0.05)  # type: ignore[arg-type]  # fitting reads no store
    named = with_named_time(SearchRequest("what is on screen at 0:12?"))
    moments = service.fitted(named, found, None)
    assert [(m.stream_id, m.start_s, m.end_s) for m in moments] == [("a", 10.0, 14.0), ("b", 10.0, 14.0)]
    assert moments[0].clips[0].start_s <= 10.0 < moments[0].clips[0].end_s
    assert service.fitted(SearchRequest("what is on screen?"), found, None) == []


def test_over_range_stays_where_the_streams_clips_are():
    moments = [Moment("a", 21.0, 23.0, 1.0, (clip("a", 20.0, 24.0),), relevance=0.3), Moment("a", 22.0, 24.0, 0.5, (clip("a", 22.0, 24.6),), relevance=0.4)]
    (merged,) = over_range(moments, 22.0, 26.0)
    assert (merged.start_s, merged.end_s, merged.relevance) == (22.0, 24.6, 0.4)
    assert [c.start_s for c in merged.clips] == [20.0, 22.0]


@pytest.mark.parametrize(
    ("question", "which"),
    [
        ("when is the harbour first mentioned?", "first"),
        ("the first time the logo appears", "first"),
        ("the earliest moment a car appears", "first"),
        ("when is she last seen?", "last"),
        ("when does the narrator say Dashwood for the last time", "last"),
        ("what is the last slide shown?", "last"),  # the last of the slides shown, not the video's last seconds
        ("what does the final slide show", "last"),
        ("who is the first red car seen with?", "first"),
        ("when is the very first goal shown", "first"),
        ("who speaks first?", "first"),
        ("which slide is shown last?", "last"),
        ("what is said last, and by whom", "last"),
        ("what is the last card read?", "last"),  # read out, typed, played, called: what happens in order too
        ("what is the last card read out?", "last"),
        ("the first command typed", "first"),
        ("when is the first song played?", "first"),
        ("the clock reads 10:45", None),
        ("when does the narrator read the last line of the poem?", None),  # the poem's last line: words to find
        ("what was shown last night", None),  # a time of day, not the last of what was shown
        ("who spoke first about the budget?", None),  # "first about ...": words to search for, not an order asked
        ("the first slide", None),
        ("the last slide", None),
        ("what happened last night", None),
        ("the first person on stage", None),
        ("what is shown in the last 30 seconds", None),  # a stretch of time: when.named_time
        ("the last one of those three shown", None),  # more than a noun's two words between
    ],
)
def test_a_question_may_ask_for_the_first_or_last_time_something_happens(question: str, which):
    assert occurrence(question) == which


@pytest.mark.parametrize(
    ("question", "which"),
    [
        ("what is the first thing the narrator says?", "first"),
        ("what are the very first words spoken?", "first"),
        ("what is the last thing said in the slideshow?", "last"),
        ("the final sentence of the talk", "last"),
        ("what is the first word of the title?", None),  # a word of the title, not of the media's time
        ("the first slide", None),
        ("who is the first person on stage?", None),
    ],
)
def test_the_first_or_last_thing_said_is_the_beginning_or_the_end(question: str, which):
    assert first_or_last_thing(question) == which
    if which == "first":
        assert named_time(question) == NamedTime(0.0, EDGE_S) and occurrence(question) == "first"
    elif which == "last":
        assert named_time(question) == NamedTime(None, None, last_s=EDGE_S) and occurrence(question) == "last"
    else:
        assert named_time(question) is None


def test_the_first_or_last_occurrence_comes_first_however_the_sentences_around_it_score():
    """"Amiable" said at 17 s and at 23 s: the later sentence scores higher as a whole, but "when is the
    word amiable first said?" is the one at 17 s. Pictures: those about as relevant as the best are
    occurrences, a weak one is not."""
    said = [
        Moment("s", 21.4, 24.3, 1.0, (clip("s", 20.0, 24.0),), relevance=0.45, evidence="speech"),
        Moment("s", 16.9, 17.5, 0.8, (clip("s", 16.0, 20.0),), relevance=0.24, evidence="speech"),
        Moment("s", 12.0, 14.0, 0.5, (clip("s", 12.0, 16.0),), relevance=0.13, evidence="visual"),
    ]
    assert [m.start_s for m in in_order_asked("when is the word amiable first said", said)] == [16.9, 21.4, 12.0]
    assert [m.start_s for m in in_order_asked("when is amiable said for the last time", said)] == [21.4, 16.9, 12.0]
    assert in_order_asked("when is the word amiable said", said) == said
    seen = [
        Moment("s", 10.0, 12.0, 1.0, (clip("s", 10.0, 14.0),), relevance=0.30, evidence="visual"),
        Moment("s", 4.0, 6.0, 0.9, (clip("s", 4.0, 8.0),), relevance=0.27, evidence="visual"),
        Moment("s", 1.0, 2.0, 0.8, (clip("s", 0.0, 4.0),), relevance=0.10, evidence="visual"),
    ]
    assert [m.start_s for m in in_order_asked("the first time a red car appears", seen)] == [4.0, 10.0, 1.0]
    assert in_order_asked("the first time a red car appears", []) == []


def test_hostile_first_or_last_thing_questions_are_read_in_one_pass():
    assert first_or_last_thing("the first " * 50_000) is None
    assert occurrence("the first slide " * 30_000) is None and occurrence("the last a b " * 30_000 + "the last slide shown") == "last"
    assert first_or_last_thing("the first thing of the " * 20_000 + "the last words") == "last"


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("a man in a suit in the bikes video", ("city-bikes_2",)),
        ("in the timecode video, what is shown at 0:05?", ("moviepy_timecode_example",)),
        ("when is mirror ticked in the displays screencast?", ("display-dual-monitors",)),  # "displays": "display"
        ("what is this video about?", ()),  # no name
        ("what happens in the first video?", ()),  # a word that names no stream
        ("the news stream", ()),
        ("what is the last thing said in the slideshow?", ("narrated_slideshow",)),  # the kind of media is its name
        ("when does the narrator call someone young?", ()),  # verbs, not videos
        ("the top bar clock shows 18:39", ()),
    ],
)
def test_a_question_may_call_a_stream_by_the_words_of_its_name(question, named):
    from streammm.qa.naming import called, named_in

    assert named_in(["city-bikes_2", "moviepy_timecode_example", "display-dual-monitors", "cam-1", "narrated_slideshow"], called(question)) == named


def test_the_words_that_call_a_searched_video_are_left_out_of_what_is_asked():
    from streammm.qa.naming import without_names

    assert without_names("a red motorcycle in the narrated slideshow", ["narrated_slideshow"]).split() == ["a", "red", "motorcycle", "in"]
    # a video the question calls but that is not searched (or not stored): its words are words to find
    assert without_names("a red motorcycle in the narrated slideshow", ["bikes"]) == "a red motorcycle in the narrated slideshow"
    assert without_names("what is this video about?", ["bikes"]) == "what is this video about?"


def test_hostile_names_are_read_in_one_pass_and_many_streams_in_one_look_each():
    from streammm.qa.naming import called, named_in

    assert called("the " + "very " * 50_000 + "video") == set()
    streams = [f"cam-{i}-lobby" for i in range(10_000)] + ["harbour-cam"]
    assert named_in(streams, called("boats in the harbour video")) == ("harbour-cam",)
