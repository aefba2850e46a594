"""Questions that ask how many times something is said or shown (streammm.qa.counting), on hand-made clips."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from streammm.qa.answer import Done, Evidence
from streammm.qa.counting import asks_count, counted_text, counted_words, occurrences
from streammm.qa.counting import MAX_COUNTED, count_answer
from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.fitting import fit_moments
from streammm.qa.moments import Moment
from streammm.records import Clip, OcrLine, ScoredClip, Word


def said(text: str, start: float, step: float = 0.3) -> list[Word]:
    return [Word(start + i * step, start + (i + 1) * step - 0.02, w) for i, w in enumerate(text.split())]


def clip(start: float, *, words=(), lines=(), stream: str = "s", length: float = 4.0) -> Clip:
    return Clip(
        f"{stream}-{start}", stream, start, start + length, "p",
        words=tuple(w for w in words if w.start_s < start + length and w.end_s > start), ocr_lines=tuple(lines),
    )


def moment(*clips: Clip, evidence: str = "speech", relevance: float = 0.9) -> Moment:
    return Moment(clips[0].stream_id, clips[0].start_s, clips[-1].end_s, 1.0, clips, relevance=relevance, evidence=evidence)


@pytest.mark.parametrize(
    "question",
    ["how many times is the word amiable said?", "How often does Chicago come up?", "the number of times the logo is shown",
     "count the mentions of Texas", "how  many  times does she say yes",
     # each time, asked for (these had been answered with one time, or with the frames for "appears")
     "at what times is amiable said?", "every time the narrator says rather", "give me the timestamps where the word amiable appears",
     "list all the moments when Chicago is mentioned", "timestamps of the word beep"],
)  # fmt: skip
def test_a_count_is_asked(question):
    assert asks_count(question)


@pytest.mark.parametrize(
    "question",
    ["how many slides are there?", "how many people are in the room?", "he often waves", "the times table on the board", "",
     "what time is it on the clock?", "the moment the dialog appears", "what happens at times of stress"],
)  # fmt: skip
def test_other_questions_do_not_ask_for_a_count(question):
    assert not asks_count(question)


def test_what_is_counted_is_the_question_less_the_asking():
    assert counted_text("how many times is the word amiable said?").split() == ["is", "the", "amiable", "said?"]
    assert counted_words("give me the timestamps where the word amiable appears") == "amiable"
    assert counted_words("every time the narrator says rather") == "rather"
    assert counted_text("How often does Chicago come up?").split() == ["does", "Chicago", "?"]


def test_each_word_said_is_counted_once_though_clips_overlap():
    words = said("Had he married a more amiable woman.", 15.6) + said("He was kind. He might even have been made amiable himself, amiable indeed.", 20.0)
    clips = [clip(t, words=words) for t in (14.0, 16.0, 18.0, 20.0, 22.0)]  # every word is in two clips
    found = occurrences("how many times is the word amiable said?", [moment(*clips[:3]), moment(*clips[3:])])
    assert [o.text for o in found] == [
        "Had he married a more amiable woman.", "He might even have been made amiable himself, amiable indeed.",
        "He might even have been made amiable himself, amiable indeed.",
    ]  # fmt: skip
    amiable = [w for w in words if w.text.startswith("amiable")]
    assert [(o.start_s, o.end_s) for o in found] == [(w.start_s, w.end_s) for w in amiable]
    assert all(o.clip.start_s <= o.start_s and o.end_s <= o.clip.end_s for o in found)  # cited in a clip that holds it


def test_how_it_was_said_is_not_what_is_counted():
    """"Mentioned", "spoken", "talked about" say how, not what: "Chicago" is counted, in each turn that says it."""
    words = said("and I'm Sheila in Texas, originally from Chicago.", 14.5) + said("Oh, I'm originally from Chicago also.", 18.1)
    for question in ("how many times is Chicago mentioned?", "how often is Chicago spoken of?", "how many times do they talk about Chicago?"):
        found = occurrences(question, [moment(clip(14.0, words=words, length=8.0))])
        assert [w.start_s for o in found for w in words if w.start_s == o.start_s] == [w.start_s for w in words if w.text.startswith("Chicago")], question


def test_several_words_are_counted_where_a_phrase_says_them_all():
    words = said("He was not an ill disposed young man.", 7.3) + said("Unless to be selfish is to be ill disposed.", 10.4) + said("Ill, said he.", 14.0)
    found = occurrences("how often does the narrator say ill disposed?", [moment(clip(6.0, words=words, length=10.0))])
    assert [o.text for o in found] == ["He was not an ill disposed young man.", "Unless to be selfish is to be ill disposed."]


def test_a_line_is_counted_each_time_it_comes_on_screen():
    lines = [
        OcrLine(4.0, 9.0, "Mirror displays", x=0.5, y=0.5), OcrLine(9.0, 12.0, "Mirror displays", x=0.5, y=0.5),  # one stay, read twice
        OcrLine(20.0, 24.0, "Mirror displays", x=0.5, y=0.5), OcrLine(30.0, 31.0, "Displays", x=0.2, y=0.1),
    ]  # fmt: skip
    clips = [clip(t, lines=[ln for ln in lines if ln.start_s < t + 4 and ln.end_s > t]) for t in (4.0, 8.0, 20.0, 28.0)]
    found = occurrences("how many times is Mirror displays shown?", [moment(*clips, evidence="ocr")])
    assert [(o.kind, o.start_s, o.end_s) for o in found] == [("ocr", 4.0, 12.0), ("ocr", 20.0, 24.0)]


def test_a_misread_sample_or_the_same_words_in_two_places_are_one_time_on_screen():
    lines = [
        OcrLine(31.0, 31.8, "Keep This Configuration", x=0.6, y=0.7), OcrLine(32.0, 32.33, "Keep This Configiration", x=0.6, y=0.7),
        OcrLine(31.2, 32.6, "keep this configuration?", x=0.2, y=0.2), OcrLine(40.0, 41.0, "Keep This Configuration", x=0.6, y=0.7),
    ]  # fmt: skip
    clips = [clip(t, lines=[ln for ln in lines if ln.start_s < t + 4 and ln.end_s > t]) for t in (30.0, 32.0, 38.0)]
    found = occurrences("how many times is Keep This Configuration shown?", [moment(*clips, evidence="ocr")])
    assert [(o.start_s, o.end_s) for o in found] == [(31.0, 32.6), (40.0, 41.0)]
    assert found[0].clip.start_s == 30.0  # cited in the clip that shows most of it


def test_the_words_counted_are_said_as_asked():
    assert counted_words("how many times is Keep This Configuration shown?") == "Keep This Configuration"
    assert counted_words("how often does the narrator say ill disposed?") == "ill disposed"
    assert counted_words("how many times is the word amiable said?") == "amiable" and counted_words("how many times?") == ""


def test_pictures_are_not_counted():
    assert occurrences("how many times does a cat appear?", [moment(clip(0.0), evidence="visual")]) == []
    assert occurrences("how many times is it said?", [moment(clip(0.0, words=said("it is said", 0.5)))]) == []  # nothing to count
    assert occurrences("how many times is amiable said?", []) == []


def test_a_word_said_twice_a_few_seconds_apart_is_two_moments():
    """Both clips match as well, so they grow into one group; the second time had been lost inside it (one
    group, one fit): the clips that do not show the fitted words are left to a moment of their own."""
    words = said("had he married a more amiable woman", 16.0) + said("he might even have been made amiable himself", 20.5)
    vector = np.array([1.0, 0.0], dtype=np.float32)
    clips = [Clip(f"s-{t}", "s", t, t + 4, "p", words=tuple(w for w in words if t <= w.start_s < t + 4), vectors={"joint": vector}) for t in (16.0, 20.0)]
    found = fit_moments("when is amiable last said?", [ScoredClip(c, 1.0) for c in clips], vector)
    amiable = [w for w in words if w.text == "amiable"]
    assert sorted(m.start_s for m in found) == [w.start_s for w in amiable]  # each fitted to its own "amiable ..."
    assert all(m.evidence == "speech" and m.evidence_text.startswith("amiable") for m in found)


class NoEncoder:
    """A count is answered from the words and lines alone: nothing may be encoded."""

    dim = 4

    def encode(self, texts):
        raise AssertionError(f"encoded {texts!r}")


def run_answer(answerer, question, moments) -> Done:
    async def go():
        return [event async for event in answerer.answer(question, moments)]

    return asyncio.run(go())[-1]


def test_the_answer_says_how_many_times_and_cites_each():
    words = said("Had he married a more amiable woman.", 15.6) + said("He might even have been made amiable himself.", 20.0)
    clips = [clip(t, words=words) for t in (14.0, 18.0, 20.0)]
    moments = [moment(clips[0]), moment(clips[2])]
    done = run_answer(ExtractiveAnswerer(NoEncoder()), "how many times is the word amiable said?", moments)
    assert done.text.startswith("“amiable” is said twice in what was found: At [s @ 00:17–00:18] “Had he married a more amiable woman.” At [s @ 00:21")
    assert [(c.start_s, c.end_s) for c in done.citations] == [(w.start_s, w.end_s) for w in words if w.text == "amiable"]


def test_counting_runs_where_the_answerer_runs_blocking_work_not_on_the_event_loop():
    """The server hands the answerer its query threads (`run`); counting walks every word of up to 20 moments'
    clips, so it goes there too, as picking sentences does."""
    words = said("Had he married a more amiable woman.", 15.6)
    ran: list[str] = []

    async def run(fn, *args):
        ran.append(fn.__name__)
        return fn(*args)

    done = run_answer(ExtractiveAnswerer(NoEncoder(), run=run), "how many times is amiable said?", [moment(clip(14.0, words=words))])
    assert ran == ["occurrences"] and done.text.startswith("“amiable” is said once")


def test_a_count_that_filled_the_search_says_at_least_and_lists_at_most_max_counted():
    words = [w for t in range(30) for w in said("yes.", 2.0 * t)]
    clips = [clip(4.0 * t, words=words) for t in range(15)]
    counted = occurrences("how many times does she say yes?", [moment(c) for c in clips])
    text, citations = count_answer("how many times does she say yes?", counted, Evidence.of([moment(*clips)]), saturated=True)
    assert text.startswith("“yes” is said at least 30 times") and text.endswith(f"And {30 - MAX_COUNTED} more.")
    assert len(citations) == MAX_COUNTED


def test_hostile_count_questions_are_read_in_one_pass():
    question = "how many times " * 20_000 + "x " * 50_000  # 400,000 characters: no pattern backtracks on it
    assert asks_count(question) and counted_text(question).split() == ["x"] * 50_000
    each = "give me all of the " * 20_000 + "every " * 20_000 + "timestamps"  # each time, asked for, in the same pass
    assert not asks_count(each) and asks_count(each + " where it is said")
