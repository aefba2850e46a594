"""Answers cite only evidence: citation tags, the extractive candidates, and the generative answerer's
citation rewriting (the chat endpoint is replaced by httpx's MockTransport: no LLM runs on this machine)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
import json
import re
import zlib

import httpx
import numpy as np
import pytest

from streammm.config import LlmConfig
from streammm.qa.answer import Citation, Delta, Done, Evidence, clock, keep_cited_evidence
from streammm.qa.candidates import Candidate, candidates
from streammm.qa.typed import typed_into
from streammm.qa.extractive import QUANTITY_BONUS, RANK_BONUS, WORD_BONUS, ExtractiveAnswerer, relevance_shares, score_candidates
from streammm.qa.llm import CitationRewriter, LlmAnswerer, label_evidence
from streammm.qa.moments import Moment
from streammm.qa.counters import counter_index, counter_total, the_state_asked
from streammm.records import Clip, OcrLine, Word


def clip(stream: str, start: float, end: float, **fields) -> Clip:
    return Clip(clip_id=f"{stream}-{start:g}", stream_id=stream, start_s=start, end_s=end, profile="p", **fields)


SLIDES = clip(
    "slides", 6.0, 10.0,
    words=(Word(6.2, 6.6, "for"), Word(6.6, 7.0, "them."), Word(7.31, 7.6, "He"), Word(7.6, 8.0, "was"), Word(8.0, 8.4, "not"), Word(9.5, 9.84, "man.")),
    transcript="for them. He was not man.",
)
TERMINAL = clip(
    "terminal", 4.0, 8.0,
    ocr_lines=(
        OcrLine(0.0, 4.0, "user@host:~$", x=0.40, y=0.20),
        OcrLine(4.0, 5.0, "user@host:~$ ls /", x=0.43, y=0.20),
        OcrLine(5.0, 8.3, "user@host:~$ ls /usr", x=0.44, y=0.20),
        OcrLine(0.0, 8.3, "bash — Konsole", x=0.5, y=0.02),
    ),
    ocr_text="user@host:~$ ls /usr\nbash — Konsole",
)
MOMENTS = [Moment("slides", 6.0, 10.0, 0.9, (SLIDES,)), Moment("terminal", 4.0, 8.0, 0.5, (TERMINAL,))]


class KeywordEncoder:
    """A deterministic stand-in text encoder for unit tests: bag of words hashed into 64 dims."""

    dim = 64

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace(".", " ").split():
                out[i, zlib.crc32(word.encode()) % self.dim] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-9)
        return out


def run(answerer, question, moments) -> tuple[list[str], Done]:
    async def go():
        return [event async for event in answerer.answer(question, moments)]

    events = asyncio.run(go())
    assert isinstance(events[-1], Done) and all(isinstance(e, Delta) for e in events[:-1])
    return [e.text for e in events[:-1]], events[-1]


def test_clock_and_citation_tags():
    assert clock(7.31) == "00:07" and clock(9.84, up=True) == "00:10" and clock(10.0, up=True) == "00:10"
    assert clock(3725.2) == "1:02:05"
    assert Citation("lobby", 65.0, 69.5, "c").tag == "[lobby @ 01:05–01:10]"


def test_a_citation_can_only_be_made_from_evidence_and_stays_inside_its_clip():
    evidence = Evidence.of(MOMENTS)
    assert evidence.cite(SLIDES, 7.31, 99.0) == Citation("slides", 7.31, 10.0, SLIDES.clip_id)
    with pytest.raises(ValueError):
        evidence.cite(clip("elsewhere", 0, 4))


def test_citations_not_pointing_at_moments_are_removed_and_counted():
    good, bad = Citation("slides", 7.0, 9.0, SLIDES.clip_id), Citation("other", 1.0, 2.0, "not-retrieved")
    done = Done(f"Yes {good.tag}. Also {bad.tag}.", (good, bad), "llm")
    kept = keep_cited_evidence(done, MOMENTS)
    assert kept.citations == (good,) and kept.removed_citations == 1
    assert kept.text == f"Yes {good.tag}. Also."


def test_text_typed_in_place_is_found_with_when_typing_began():
    lines = list(TERMINAL.ocr_lines)
    assert typed_into(lines[2], lines) == ("ls /usr", 4.0)
    assert typed_into(lines[1], lines) is None, "an intermediate state is not the typed text"
    assert typed_into(lines[3], lines) is None


def test_text_typed_into_an_empty_field_is_all_of_it_and_a_prompt_is_not_typed():
    """The dev screencast's search field: "dis" for 0.27 s, then "displayl" (OCR's "displays"). "dis" was a state
    of the typing, not text there before it: all of "displayl" was typed (it had been "playl"). A prompt
    ("user@host:~$") is not typed, however briefly it stood before the command; text that stood a second
    before more was typed was there before."""
    field = [OcrLine(1.933, 2.2, "dis", x=0.73, y=0.087), OcrLine(2.6, 3.067, "displayl", x=0.75, y=0.093)]
    assert typed_into(field[1], field) == ("displayl", 1.933)
    quick = [OcrLine(9.0, 9.4, "user@host:~$", x=0.40, y=0.3), OcrLine(9.5, 12.0, "user@host:~$ ls", x=0.42, y=0.3)]
    assert typed_into(quick[1], quick) == ("ls", 9.5)
    paused = [OcrLine(0.0, 3.0, "Hello", x=0.4, y=0.5), OcrLine(3.1, 5.0, "Hello world", x=0.45, y=0.5)]
    assert typed_into(paused[1], paused) == ("world", 3.1)


def test_typing_is_found_on_a_screen_full_of_text_and_in_a_store_that_kept_no_places():
    """The load case of reading typing across moments: a terminal of 1,200 lines over 5 moments of 4 clips (a
    listing that scrolls; many lines start alike, "drwxr-xr-x ..."), among them a command typed at the prompt.
    The command is found once (it had been "ls -la /etc" and "-la /etc"), the listing is not typing, and so in a
    store made before lines kept their place (x and y unknown: -1), where any row may be the prompt's."""
    import random

    rng = random.Random(5)
    listing = [OcrLine(t := rng.uniform(0.0, 40.0), t + rng.uniform(0.5, 8.0), f"drwxr-xr-x 2 root root {rng.randint(1, 9999)} dir{i}", x=0.4, y=rng.randint(5, 95) / 100)
               for i in range(1_200)]
    # typed across two moments' clips: the second moment's clips (16-26 s) see "ls" typed, not the prompt alone
    typing = [OcrLine(10.0, 16.0, "user@host:~$", x=0.1, y=0.02), OcrLine(16.1, 16.4, "user@host:~$ ls", x=0.12, y=0.02),
              OcrLine(16.5, 30.0, "user@host:~$ ls -la /etc", x=0.15, y=0.02)]

    def moments(lines: list[OcrLine]) -> list[Moment]:
        clips = [clip("term", t, t + 4.0, ocr_lines=tuple(ln for ln in lines if ln.start_s < t + 4.0 and ln.end_s > t)) for t in range(0, 40, 2)]
        return [Moment("term", float(8 * m), float(8 * m + 8), 1.0 - m / 10, tuple(clips[4 * m : 4 * m + 4])) for m in range(5)]

    for lines in (listing + typing, [replace(ln, x=-1.0, y=-1.0) for ln in listing + typing]):
        typed = {(c.text, c.line) for c in candidates(moments(lines)) if c.kind == "typed"}
        assert typed == {("ls -la /etc", "user@host:~$ ls -la /etc")}, sorted(typed)[:5]


def test_a_menu_bar_read_in_pieces_and_then_whole_is_not_typing():
    """movie-hello's menu bar: OCR reads it as words, as a part, then whole; the words it "gains" were on
    that row all along, so nothing was typed. The command typed below it was."""
    row, below = 0.05, 0.20
    lines = [
        OcrLine(0.0, 6.0, "Favoritos", x=0.40, y=row),
        OcrLine(2.0, 4.0, "Arquivo", x=0.05, y=row),
        OcrLine(2.0, 4.0, "Editar", x=0.12, y=row),
        OcrLine(2.0, 4.0, "Exibir", x=0.20, y=row),
        OcrLine(5.0, 6.0, "Arquivo Editar E", x=0.10, y=row),
        OcrLine(6.0, 9.0, "Arquivo Editar Exibir Favoritos", x=0.20, y=row),
        OcrLine(0.0, 4.0, "user@host:~$", x=0.10, y=below),
        OcrLine(4.0, 5.0, "user@host:~$ ls /", x=0.12, y=below),
        OcrLine(5.0, 9.0, "user@host:~$ ls /usr", x=0.13, y=below),
    ]
    assert typed_into(lines[5], lines) is None
    assert typed_into(lines[8], lines) == ("ls /usr", 4.0)


def test_a_label_on_screen_is_said_with_the_value_beside_it_while_both_show():
    """A settings dialog (the dev screencast's rows): "Resolution:" labels the line to its right on its
    row, which changed at 5.7 s; each value is said with the label over the seconds both showed. A label
    with nothing beside it, and a value on another row, stay as they are."""
    settings = clip(
        "screencast", 4.0, 8.0,
        ocr_lines=(
            OcrLine(4.0, 11.3, "Resolution:", x=0.233, y=0.622),
            OcrLine(4.0, 5.7, "1024 x 768 (4:3)", x=0.345, y=0.622),
            OcrLine(5.7, 11.3, "1280 x 1024 (5:4)", x=0.350, y=0.625),
            OcrLine(4.0, 11.3, "Rotation:", x=0.225, y=0.671),
            OcrLine(4.0, 11.3, "Apply", x=0.761, y=0.747),
            OcrLine(4.0, 11.3, "Note:", x=0.70, y=0.40),
            OcrLine(4.0, 11.3, "Mode:", x=-1.0, y=-1.0),  # where it is, unknown (older stores): said alone
            OcrLine(4.0, 11.3, "Fast", x=-1.0, y=-1.0),
        ),
    )
    screen = {(c.text, c.start_s, c.end_s) for c in candidates([Moment("screencast", 4.0, 8.0, 1.0, (settings,))]) if c.kind == "screen"}
    assert {("Resolution: 1024 x 768 (4:3)", 4.0, 5.7), ("Resolution: 1280 x 1024 (5:4)", 5.7, 8.0)} <= screen
    assert ("Resolution:", 4.0, 8.0) not in screen
    assert {("Rotation:", 4.0, 8.0), ("Note:", 4.0, 8.0), ("Mode:", 4.0, 8.0), ("1024 x 768 (4:3)", 4.0, 5.7)} <= screen
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=1), "what is the resolution set to?", [Moment("screencast", 4.0, 8.0, 1.0, (settings,))])
    assert "Resolution: 1" in done.text, done.text


def test_the_answer_to_a_question_that_names_a_time_says_only_what_was_said_or_shown_then():
    spoken = clip(
        "slides", 6.0, 10.0,
        words=(Word(6.2, 6.6, "for"), Word(6.6, 7.0, "them."), Word(7.31, 7.6, "He"), Word(7.6, 8.0, "was"), Word(8.0, 8.4, "not")),
        ocr_lines=(OcrLine(5.0, 7.0, "slide 2 of 5"), OcrLine(7.0, 10.0, "slide 3 of 5")),
    )
    moments = [Moment("slides", 5.0, 10.0, 1.0, (spoken,))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=5), "which slide is shown at 0:09?", moments)
    assert "slide 3 of 5" in done.text and "slide 2 of 5" not in done.text and "for them" not in done.text
    assert done.citations and all(c.end_s > 7.0 and c.start_s < 11.0 for c in done.citations)
    _, anytime = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=5), "which slide is shown?", moments)
    assert "slide 2 of 5" in anytime.text  # without the time, the slide before is an answer too
    # The moments hold nothing then (a client's time_range took the search elsewhere): they are still said.
    _, elsewhere = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=5), "which slide is shown at 0:40?", moments)
    assert "slide" in elsewhere.text and elsewhere.citations
    # At a point in time, what was on screen at that second: "slide 2 of 5" ends a second before 0:08 and
    # is inside the seconds around it, but it had been said first.
    _, point = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=5), "which slide is shown at 0:08?", moments)
    assert "slide 3 of 5" in point.text and "slide 2 of 5" not in point.text, point.text


def test_the_answer_about_the_end_says_what_each_stream_showed_in_its_last_seconds():
    """Streams end at different times; each one's moment is its last seconds (QueryService), but its clips
    reach back before them: what began there is not the end."""
    slides = clip("slides", 14.0, 24.7, ocr_lines=(OcrLine(12.0, 15.0, "slide 3 of 5"), OcrLine(20.0, 24.7, "slide 5 of 5")))
    talk = clip("talk", 48.0, 60.0, ocr_lines=(OcrLine(46.0, 51.0, "slide 8 of 9"), OcrLine(55.0, 60.0, "slide 9 of 9")))
    moments = [Moment("slides", 14.7, 24.7, 1.0, (slides,)), Moment("talk", 50.0, 60.0, 1.0, (talk,))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=5), "which slide is shown at the end?", moments)
    assert "slide 5 of 5" in done.text and "slide 9 of 9" in done.text
    assert "slide 3 of 5" not in done.text and "slide 8 of 9" not in done.text
    _, anytime = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=5), "which slide is shown?", moments)
    assert "slide 3 of 5" in anytime.text


def test_the_answer_to_when_something_first_happens_is_the_first_moment():
    later = clip("s", 20.0, 24.0, words=(Word(21.4, 21.8, "He"), Word(21.8, 22.3, "was"), Word(22.3, 22.9, "amiable"), Word(22.9, 23.5, "himself.")))
    earlier = clip("s", 16.0, 20.0, words=(Word(16.9, 17.2, "an"), Word(17.2, 17.5, "amiable"), Word(17.5, 18.0, "woman.")))
    moments = [Moment("s", 16.9, 18.0, 1.0, (earlier,)), Moment("s", 21.4, 23.5, 0.9, (later,))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=3), "when is amiable first said?", moments)
    assert "amiable woman" in done.text and "himself" not in done.text
    assert [round(c.start_s) for c in done.citations] == [17]


def test_candidates_are_sentences_with_word_times_and_screen_lines():
    found = candidates(MOMENTS)
    speech = [(c.text, c.start_s, c.end_s) for c in found if c.kind == "speech"]
    assert speech == [("for them.", 6.2, 7.0), ("He was not", 7.31, 8.4), ("man.", 9.5, 9.84)]  # the 1.1 s pause ends one
    typed = [c for c in found if c.kind == "typed"]
    assert [(c.text, c.start_s, c.end_s) for c in typed] == [("ls /usr", 4.0, 8.0)]


def test_a_line_is_cited_in_the_best_clip_that_shows_it_not_one_that_ends_as_it_comes():
    """The dev screencast's settings window comes at 3.999 s: the best clip (0-4 s) shows the last millisecond
    of it; it had been cited 3.999-4.0 s. A line is cited as a sentence is: in the clip that shows most of it from its start."""
    window = OcrLine(3.999, 35.67, "Apply", x=0.76, y=0.75)
    best, next_one = clip("settings", 0.0, 4.0, ocr_lines=(window,)), clip("settings", 2.0, 6.0, ocr_lines=(window,))
    (line,) = [c for c in candidates([Moment("settings", 0.0, 6.0, 1.0, (best, next_one))]) if c.kind == "screen"]
    assert line.clip is next_one and (line.start_s, line.end_s) == (3.999, 6.0)
    brief = OcrLine(3.8, 4.1, "OK", x=0.5, y=0.5)  # shown 0.2 s in the best clip, 0.3 s in the next: cited in the next
    held = clip("settings", 0.0, 4.0, ocr_lines=(brief,)), clip("settings", 2.0, 6.0, ocr_lines=(brief,))
    (line,) = [c for c in candidates([Moment("settings", 0.0, 6.0, 1.0, held)]) if c.kind == "screen"]
    assert line.clip is held[1]
    glimpse = OcrLine(3.85, 3.95, "OK", x=0.5, y=0.5)  # both show all of it: the first (the best) one
    seen = clip("settings", 0.0, 4.0, ocr_lines=(glimpse,)), clip("settings", 2.0, 6.0, ocr_lines=(glimpse,))
    (line,) = [c for c in candidates([Moment("settings", 0.0, 6.0, 1.0, seen)]) if c.kind == "screen"]
    assert line.clip is seen[0]


def test_a_line_shown_again_later_is_cited_where_the_best_clip_saw_it():
    """The news-style video's lower third names each speaker in turn: "SHEILA Texas" at 10.0-10.8 s and again
    at 14.48-18.0 s. Asked what is there at 0:15, the best clip (14-18 s) saw the second; the citation had
    gone to the first, whose clip showed more of both together."""
    earlier, later = OcrLine(10.0, 10.8, "SHEILA Texas", x=0.12, y=0.75), OcrLine(14.48, 18.0, "SHEILA Texas", x=0.12, y=0.75)
    best, before = clip("news", 14.0, 18.0, ocr_lines=(later,)), clip("news", 8.0, 12.0, ocr_lines=(earlier,))
    (line,) = [c for c in candidates([Moment("news", 13.0, 17.0, 1.0, (best, before))]) if c.kind == "screen"]
    assert line.clip is best and (line.start_s, line.end_s) == (14.48, 18.0)


def test_text_typed_is_said_once_however_much_of_its_typing_each_moment_saw():
    """The dev terminal: one moment's clips end while "ls /" is on the prompt's line, another's saw "ls /usr"
    typed after "ls /" without the prompt alone (so "usr" was added). The answer to "what was typed?" had been
    "ls /" and "usr" (or "ls /usr"). A command typed at the next prompt, a row down, is another."""
    prompt = OcrLine(0.0, 3.9, "user@host:~$", x=0.40, y=0.20)
    partial = OcrLine(3.9, 4.3, "user@host:~$ ls /", x=0.43, y=0.20)
    whole = OcrLine(4.7, 8.0, "user@host:~$ ls /usr", x=0.44, y=0.20)
    below = OcrLine(9.0, 9.5, "user@host:~$", x=0.40, y=0.30)
    again = OcrLine(9.5, 12.0, "user@host:~$ ls /usr/share", x=0.45, y=0.30)
    moments = [
        Moment("t", 2.0, 4.3, 1.0, (clip("t", 0.0, 4.3, ocr_lines=(prompt, partial)),)),
        Moment("t", 4.0, 8.0, 0.9, (clip("t", 4.0, 8.0, ocr_lines=(partial, whole)),)),
        Moment("t", 6.0, 8.0, 0.8, (clip("t", 4.0, 8.0, ocr_lines=(partial, OcrLine(4.7, 7.0, "user@host:~$ ls /usr", x=0.44, y=0.20))),)),
        Moment("t", 9.0, 12.0, 0.7, (clip("t", 8.0, 12.0, ocr_lines=(below, again)),)),
    ]
    typed = [(c.text, c.line) for c in candidates(moments) if c.kind == "typed"]
    assert ("ls /", "user@host:~$ ls /") not in typed  # seen typed further in the next moment
    assert ("ls /usr/share", "user@host:~$ ls /usr/share") in typed  # the next prompt's command
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "what was typed?", moments)
    assert sum(c.stream_id == "t" for c in done.citations) == len(done.citations)
    said = re.findall(r"“([^”]*)” is typed", done.text)
    assert "ls /usr" in said and "ls /" not in said and "usr" not in said, done.text


def test_what_was_typed_into_a_field_is_the_answer_where_the_field_matched_the_question():
    """The dev screencast's search field: "Type to search..." (1.0-1.67 s) matches "what does the user type in the
    search?", so the moment is fitted to it; then "dis", then "displayl" (OCR's "displays") were typed on its row
    after it went. The answer had been the placeholder alone: the typing was outside the fitted span. What was
    typed on the row of a line the moment was fitted to is its evidence, and the words that ask for typing
    ("type", "search") are no words the placeholder shares with the question. Text typed on another row, and
    lines shown outside the span, stay out."""
    field = (
        OcrLine(0.0, 37.0, "Activities", x=0.04, y=0.02),
        OcrLine(1.0, 1.667, "Type to search...", x=0.78, y=0.09),
        OcrLine(1.933, 2.2, "dis", x=0.73, y=0.087),
        OcrLine(2.6, 3.067, "displayl", x=0.75, y=0.093),
        OcrLine(2.47, 3.27, "RECENT ITEMS", x=0.18, y=0.44),
        OcrLine(2.4, 2.6, "no", x=0.5, y=0.7),
        OcrLine(2.7, 3.5, "notes", x=0.5, y=0.7),
    )
    moment = Moment("screencast", 1.0, 1.667, 0.9, (clip("screencast", 0.0, 4.0, ocr_lines=field),))
    kept = {(c.kind, c.text) for c in candidates([moment])}
    assert ("typed", "displayl") in kept
    assert ("typed", "notes") not in kept and ("screen", "RECENT ITEMS") not in kept
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "what does the user type in the search?", [moment])
    assert done.text.startswith("At [screencast @ 00:01–00:04] “displayl” is typed"), done.text
    placeholder = next(c for c in candidates([moment]) if c.text == "Type to search...")
    unlike = np.zeros((1, 4), np.float32)  # cosine 0: what is left is the bonuses
    scores = score_candidates("what does the user type in the search?", np.ones(4, np.float32), unlike, [placeholder])
    assert scores == [pytest.approx(RANK_BONUS)], "the placeholder shares only the words that ask for typing"


@pytest.mark.parametrize(
    ("question", "number_first"),
    [
        ("how much did solar costs fall?", True),
        ("what percentage of costs fell?", True),
        ("what year did solar costs fall?", True),
        ("why did solar costs fall?", False),
        ("how many times is solar said?", False),  # a count: answered by counting (qa/counting.py), not here
    ],
)
def test_a_question_that_asks_how_much_is_answered_with_a_number_first(question, number_first):
    """The lecture slide "Solar Power" with "• Costs fell 90% since 2010": "how much did solar costs fall?" had been
    answered with the title first (it shares "solar"). Two lines alike but for a number, scored alike but for it."""
    words = Candidate("screen", "• Solar costs fell a lot since then", clip("s", 8.0, 12.0), 8.0, 12.0, 0)
    number = Candidate("screen", "• Solar costs fell 90% since 2010", clip("s", 8.0, 12.0), 8.0, 12.0, 0)
    same = np.zeros((2, 4), np.float32)
    words_score, number_score = score_candidates(question, np.ones(4, np.float32), same, [words, number])
    assert number_score - words_score == pytest.approx(QUANTITY_BONUS if number_first else 0.0)


def test_what_a_far_weaker_moment_holds_answers_after_the_best_moments_evidence():
    """The lecture deck: "what is the title of the third slide?" finds the slide whose counter reads 3 (relevance
    0.17) and four weak moments (0.05-0.10). Every slide's title scores alike against the question, and "Summary",
    a weak moment's, had been said first. A candidate's moment's relevance against the best's weighs in; not where
    every moment answers alike (a list)."""
    def slide(n: int, title: str, start: float, relevance: float) -> Moment:
        lines = (OcrLine(start, start + 8, title, x=0.2, y=0.13), OcrLine(start, start + 8, f"{n}/5", x=0.9, y=0.95))
        return Moment("deck", start, start + 8, 1.0, (clip("deck", start, start + 8, ocr_lines=lines),), relevance=relevance, evidence="ocr")

    moments = [slide(3, "Wind Power", 16.0, 0.17), slide(5, "Summary", 32.0, 0.05)]
    assert relevance_shares(moments) == pytest.approx([1.0, 0.05 / 0.17])
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "what is the title of the third slide?", moments)
    assert done.text.startswith("At [deck @ 00:16–00:24] the top of the screen shows: “Wind Power”."), done.text
    assert "Summary" not in done.text, done.text  # far weaker: not said
    assert relevance_shares([replace(m, relevance=0.0) for m in moments]) is None


@pytest.mark.parametrize(
    ("text", "index"),
    [("slide 4 of 5", 4), ("4/5", 4), ("5／5", 5), ("Page 3", 3), ("Step 2 of 7", 2),
     ("• Costs fell 90% since 2010", None), ("00:00:05:00", None), ("Renewable Energy 101", None), ("", None)],
)
def test_a_counter_line_shows_its_place(text, index):
    assert counter_index(text) == index
    assert counter_total(text) == ({"slide 4 of 5": 5, "4/5": 5, "5／5": 5, "Step 2 of 7": 7}.get(text))


def test_of_a_lines_states_the_one_with_the_numbers_asked_answers():
    """The timecode video: "on-screen timecode reads 00:00:07:00" (dev x07) had been answered with 00:00:07:00,
    then 00:00:00:00 and 00:00:02:00 (alike but for their numbers, and as close to the question's vector); the
    countdown "... in 30 seconds" asked of, with "... in 29 seconds" too. A line with other words and digits
    stays, and where no state names the numbers asked, all do."""
    def shown(text: str, start: float, rank: int = 0) -> Candidate:
        return Candidate("screen", text, clip("t", start, start + 1), start, start + 1, rank, at=OcrLine(start, start + 1, text, x=0.5, y=0.8))

    timecodes = [shown("00:00:07:00", 7.0), shown("00:00:00:00", 0.0, 1), shown("00:00:02:00", 2.0, 2), shown("1024 x 768 25 fps", 0.0, 1)]
    assert [c.text for c in the_state_asked(timecodes, "timecode 00:00:07:00")] == ["00:00:07:00", "1024 x 768 25 fps"]
    assert the_state_asked(timecodes, "the timecode shows nine seconds") == timecodes  # no state shows 9: nothing is left out
    countdown = [shown("reset in 30 seconds", 31.0), shown("reset in 29 seconds", 32.0)]
    assert [c.text for c in the_state_asked(countdown, "reset in 30 seconds")] == ["reset in 30 seconds"]
    assert [c.text for c in the_state_asked([shown("slide 1 of 5", 0.0), shown("slide 5 of 5", 20.0)], "slide 1 of 5")] == ["slide 1 of 5"]
    lines = tuple(OcrLine(t, t + 1.0, f"00:00:0{t:.0f}:00") for t in (6.0, 7.0, 8.0))
    moments = [Moment("t", 6.0, 9.0, 1.0, (clip("t", 6.0, 9.0, ocr_lines=lines),), relevance=0.9, evidence="ocr")]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "on-screen timecode reads 00:00:07:00", moments)
    assert [(c.start_s, c.end_s) for c in done.citations] == [(7.0, 8.0)], done.text


def test_a_lines_state_is_picked_out_of_a_screen_full_of_numbered_lines():
    """Load: a listing of 1,200 lines alike but for their numbers ("drwxr-xr-x 2 root root 4096 dir17") beside the
    timecode's states. The listing names none of the numbers asked, so all of it stays; of the timecode, the state
    asked alone."""
    import random

    rng = random.Random(7)
    listing = [Candidate("screen", f"drwxr-xr-x 2 root root {rng.randint(1, 9999)} dir{i}", clip("t", 0.0, 4.0), 0.0, 4.0, 0) for i in range(1_200)]
    timecodes = [Candidate("screen", f"00:00:{t:02d}:00", clip("t", t, t + 1.0), t, t + 1.0, 0) for t in range(16)]
    kept = the_state_asked(listing + timecodes, "the timecode reads 00:00:11:00")
    assert kept == listing + [timecodes[11]]


def test_how_many_slides_there_are_is_what_the_counter_says():
    """"How many slides are there?" of the slideshow had been answered with three counters ("slide 5 of 5",
    "slide 2 of 5", "slide 1 of 5") and no number. The counter says how many, cited where it does; without a
    counter that says "of N" (a deck numbered "Page 3"), the answer is what it was."""
    def slide(n: int, start: float, counter: str) -> Moment:
        lines = (OcrLine(start, start + 5, "Sense and Sensibility, chapter one", x=0.5, y=0.05), OcrLine(start, start + 5, counter, x=0.5, y=0.95))
        return Moment("slides", start, start + 5, 1.0, (clip("slides", start, start + 5, ocr_lines=lines),), relevance=0.5, evidence="ocr")

    moments = [slide(2, 5.0, "slide 2 of 5"), slide(5, 20.0, "slide 5 of 5"), slide(1, 0.0, "slide 1 of 5")]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "how many slides are there?", moments)
    assert done.text == "5, as the counter shows. At [slides @ 00:20–00:25] the screen shows: “slide 5 of 5”.", done.text
    assert [(c.start_s, c.end_s) for c in done.citations] == [(20.0, 25.0)]
    pages = [slide(3, 10.0, "Page 3"), slide(1, 0.0, "Page 1")]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "how many pages are there?", pages)
    assert not done.text[:1].isdigit(), done.text
    dated = [slide(1, 0.0, "12/25"), slide(2, 5.0, "Page 2")]  # a date shown once is no counter
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "how many pages are there?", dated)
    assert "25" not in done.text.split("At [")[0], done.text
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "how many slides are there?", moments[:1] + moments[2:])  # 2/5, 1/5
    assert done.text.startswith("5, as the counter shows. At [slides @ 00:05–00:10]"), done.text
    ran: list[str] = []

    async def in_threads(fn, *args):  # the server's query threads: reading the counters is not the event loop's
        ran.append(fn.__name__)
        return fn(*args)

    _, done = run(ExtractiveAnswerer(KeywordEncoder(), run=in_threads), "how many slides are there?", moments)
    assert ran == ["_counter_of"] and done.text.startswith("5, as the counter shows."), (ran, done.text)
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "how many times is slide said?", moments)
    assert "as the counter shows" not in done.text  # a count of times: qa/counting.py


def test_a_slide_asked_for_by_its_number_is_answered_from_that_slide_only():
    """"What animal is on the second slide?" of the narrated slideshow found slide 2 first, then slides 4 and 3
    (nothing matches "animal" on screen): each was answered, counters naming other slides included. A moment
    whose counter shows another slide is another slide's; with none showing the one asked for, all are kept."""
    def slide(n: int, start: float, relevance: float, tags: tuple[str, ...]) -> Moment:
        lines = (OcrLine(start, start + 5, "Sense and Sensibility, chapter one", x=0.5, y=0.05), OcrLine(start, start + 5, f"slide {n} of 5", x=0.5, y=0.95))
        return Moment("slides", start, start + 5, 1.0, (clip("slides", start, start + 5, ocr_lines=lines, tags=tags),), relevance=relevance, evidence="ocr")

    moments = [slide(2, 5.0, 0.4, ("espresso", "cup")), slide(4, 15.0, 0.39, ("fox squirrel",)), slide(3, 10.0, 0.38, ("monarch",))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "what animal is on the second slide?", moments)
    assert {(c.start_s, c.end_s) for c in done.citations} <= {(5.0, 10.0)} and done.citations, done.text
    assert "slide 4" not in done.text and "slide 3" not in done.text and "squirrel" not in done.text, done.text
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "what animal is on the ninth slide?", moments)
    assert done.citations, done.text  # no moment shows slide 9: none is left out


def test_a_line_shares_the_questions_words_by_stem():
    """"Apply" is a word of "which button applies the settings?" (Snowball: both "appli"); it had shared none."""
    apply = Candidate("screen", "Apply", clip("s", 0.0, 4.0), 0.0, 4.0, 0)
    other = Candidate("screen", "Cancel", clip("s", 0.0, 4.0), 0.0, 4.0, 0)
    unlike = np.zeros((2, 4), np.float32)
    scores = score_candidates("which button applies the settings?", np.ones(4, np.float32), unlike, [apply, other])
    assert scores[0] - scores[1] == pytest.approx(WORD_BONUS / 2)  # "applies" of "applies" and "settings" ("button" is a cue)


def test_a_question_that_asks_what_was_typed_is_answered_with_text_typed_only():
    """The dev terminal: "what command is typed in the terminal?" had been answered with the window's title ": bash"
    (its words are near "command" and "terminal"), and the command came fourth, cut off. Where text was typed, it
    answers; a description of nothing typed is answered as before."""
    lines = (
        OcrLine(0.0, 8.3, ": bash — terminal command window", x=0.5, y=0.02),
        OcrLine(0.0, 3.9, "user@host:~$", x=0.40, y=0.20),
        OcrLine(4.0, 8.3, "user@host:~$ ls /usr", x=0.44, y=0.20),
    )
    moments = [Moment("t", 0.0, 8.0, 1.0, (clip("t", 0.0, 8.3, ocr_lines=lines),), relevance=0.5)]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "what command is typed in the terminal?", moments)
    assert done.text.startswith("At [t @ 00:04–00:09] “ls /usr” is typed") and "bash" not in done.text, done.text
    _, none = run(ExtractiveAnswerer(KeywordEncoder()), "the terminal command window shows a prompt, nothing typed yet", moments)
    assert "bash" in none.text, none.text


def test_extractive_answer_streams_sentences_whose_citations_are_evidence():
    deltas, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=2), "what command is typed?", MOMENTS)
    assert "".join(deltas) == done.text and done.answerer == "extractive"
    assert done.text.startswith("At [terminal @ 00:04–00:08] “ls /usr” is typed")
    assert done.citations[0] == Citation("terminal", 4.0, 8.0, TERMINAL.clip_id)
    assert all(c.clip_id in Evidence.of(MOMENTS).clips for c in done.citations)


READING = clip(  # a clip that holds the end of one sentence and the start of another, as retrieval hands them over
    "reading", 0.0, 4.0,
    words=(
        Word(0.2, 0.4, "And"), Word(0.4, 0.8, "Mr."), Word(0.8, 1.2, "Dashwood"), Word(1.2, 1.6, "considered"), Word(1.6, 2.0, "his"),
        Word(2.0, 2.5, "power."), Word(3.3, 3.5, "He"), Word(3.5, 3.7, "was"), Word(3.7, 3.95, "kind"),
    ),
)


def test_a_title_ends_no_sentence_and_a_sentence_cut_off_by_the_clips_is_marked():
    found = [(c.text, c.partial) for c in candidates([Moment("reading", 0.0, 4.0, 1.0, (READING,))]) if c.kind == "speech"]
    assert found == [("And Mr. Dashwood considered his power.", False), ("He was kind", True)]
    tail = clip("reading", 4.0, 8.0, words=(Word(4.0, 4.4, "not"), Word(4.4, 4.8, "unkind"), Word(4.8, 5.0, "to"), Word(5.0, 5.4, "them."), Word(5.6, 6.0, "Then")))
    found = [(c.text, c.partial) for c in candidates([Moment("reading", 4.0, 8.0, 1.0, (tail,))]) if c.kind == "speech"]
    assert found == [("not unkind to them.", True), ("Then", True)]  # its start in lower case: the rest of a sentence


def test_a_piece_of_a_sentence_without_the_questions_words_is_not_said():
    moments = [Moment("reading", 0.0, 4.0, 1.0, (READING,))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=3), "what does the narrator say?", moments)
    assert "He was" not in done.text and "And Mr. Dashwood considered his power." in done.text
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=3), "who was kind?", moments)
    assert "“He was kind”" in done.text  # the question's own words: the piece is what it asks about


def test_a_sentence_is_cited_from_the_words_that_match_the_question():
    moments = [Moment("reading", 0.0, 4.0, 1.0, (READING,))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=1), "when is the name Dashwood said?", moments)
    assert "And Mr. Dashwood considered his power." in done.text  # the whole sentence is said ...
    assert (done.citations[0].start_s, done.citations[0].end_s) == (0.8, 1.2)  # ... and cited where "Dashwood" is
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=1), "what does the narrator say?", moments)
    assert (done.citations[0].start_s, done.citations[0].end_s) == (0.2, 2.5)  # no word of the question: all of it
    text = "Okay then I thought you know I heard a beep on the line."
    said = clip("call", 10.0, 14.0, words=tuple(Word(10.5 + 0.25 * n, 10.73 + 0.25 * n, w) for n, w in enumerate(text.split())))
    moments = [Moment("call", 10.5, 13.73, 1.0, (said,))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=1), "someone says they heard a noise", moments)
    assert (done.citations[0].start_s, done.citations[0].end_s) == (10.5, 13.73)  # described, not quoted: what was said there
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=1), "the word heard", moments)
    assert (done.citations[0].start_s, done.citations[0].end_s) == (12.25, 12.48)  # asked for as a word: the word


def test_words_cited_from_a_sentence_over_two_clips_are_cited_in_the_clip_that_holds_them():
    """A sentence said over two clips is the candidate of the clip it overlaps most; the words that match the
    question may be in the other one. They had been clamped into the wrong clip: a 0-second citation at its
    edge (0:14-0:14 for "Diane", said at 13.0 s). The words' phrase ends at the pause after "Jersey,"."""
    words = (
        Word(12.7, 12.8, "This"), Word(12.8, 13.0, "is"), Word(13.0, 13.3, "Diane"), Word(13.3, 13.6, "in"), Word(13.6, 14.1, "Jersey,"),
        Word(14.5, 15.3, "and"), Word(15.3, 15.9, "I'm"), Word(15.9, 16.2, "Sheila"), Word(16.2, 17.7, "Chicago."),
    )
    early = clip("call", 10.0, 14.0, words=words[:5], transcript="This is Diane in Jersey,")
    late = clip("call", 14.0, 18.0, words=words[5:], transcript="and I'm Sheila Chicago.")
    moments = [Moment("call", 12.7, 17.7, 1.0, (late, early))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=1), "Diane introduces herself", moments)
    (citation,) = done.citations
    assert (citation.clip_id, citation.start_s, citation.end_s) == (early.clip_id, 12.7, 14.0)  # "This is Diane in Jersey,"


def test_a_sentence_over_three_clips_is_cited_from_where_it_starts():
    """The dev slideshow's first sentence, 0.2-6.8 s, over clips 0-4, 2-6 and 4-8: it had been cited in the
    clip overlapping it most (2-6 s), so the player sought to 0:02, two seconds into it."""
    words = tuple(Word(0.2 + 0.5 * i, 0.6 + 0.5 * i, w) for i, w in enumerate("And Mister John Dashwood had then leisure to consider how much there might be done.".split()))
    clips = tuple(clip("slides", t, t + 4, words=tuple(w for w in words if t <= w.start_s < t + 4)) for t in (2.0, 0.0, 4.0))
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=1), "what does the narrator read?", [Moment("slides", 0.2, 6.8, 1.0, clips)])
    (citation,) = done.citations
    assert (citation.clip_id, citation.start_s) == ("slides-0", 0.2), citation


def test_the_first_or_last_thing_said_is_the_earliest_or_latest_sentence_of_the_best_stream():
    said = clip(
        "talk", 0.0, 10.0, transcript="Welcome everyone. Today we look at boats. Thanks for coming.",
        words=tuple(Word(t, t + 0.4, w) for t, w in ((1.0, "Welcome"), (1.5, "everyone."), (4.0, "Today"), (4.5, "we"), (5.0, "look"), (5.5, "at"), (6.0, "boats."), (8.0, "Thanks"), (8.5, "for"), (9.0, "coming."))),
        ocr_lines=(OcrLine(0.0, 10.0, "Boat show 2026", x=0.5, y=0.1),),
    )
    silent = clip("cams", 0.0, 10.0, ocr_lines=(OcrLine(0.0, 2.0, "CAM 1", x=0.1, y=0.1),), tags=("boat",))
    moments = [Moment("cams", 0.0, 10.0, 1.0, (silent,), relevance=0.9), Moment("talk", 0.0, 10.0, 1.0, (said,), relevance=0.5)]
    _, first = run(ExtractiveAnswerer(KeywordEncoder()), "what is the first thing the speaker says?", moments)
    assert first.text == "At [talk @ 00:01–00:02] the speaker says: “Welcome everyone.”", first.text
    _, last = run(ExtractiveAnswerer(KeywordEncoder()), "what are the last words said?", moments)
    assert "“Thanks for coming.”" in last.text and len(last.citations) == 1, last.text
    _, silent = run(ExtractiveAnswerer(KeywordEncoder()), "what is the first thing said?", moments[:1])
    assert "“CAM 1”" in silent.text  # nothing said there: what was shown, not nothing
    _, shown = run(ExtractiveAnswerer(KeywordEncoder()), "what is the first thing shown on screen?", moments)
    assert "“CAM 1”" in shown.text and len(shown.citations) == 1, shown.text  # the most relevant stream that shows any


def test_at_the_beginning_or_the_end_is_what_is_nearest_it():
    """"What timecode is shown at the end?" of a 16 s video with a timecode burned in (the stand-in encoder
    scores every line alike): QueryService searched its
    last 10 s, where every line is a timecode scoring alike; the answer had said 00:00:09:00 first. Now the
    lines nearest the end come first, and at the beginning the earliest."""
    lines = tuple(OcrLine(float(t), t + 1.0, f"00:00:{t:02d}:00", x=0.5, y=0.9) for t in range(16))
    clips = tuple(clip("tc", t, t + 4.0, ocr_lines=tuple(ln for ln in lines if t <= ln.start_s < t + 4)) for t in (0.0, 4.0, 8.0, 12.0))
    late = [Moment("tc", 8.0, 12.0, 1.0, clips[2:3], relevance=0.5), Moment("tc", 12.0, 16.0, 0.9, clips[3:], relevance=0.4)]
    _, end = run(ExtractiveAnswerer(KeywordEncoder()), "what timecode is shown at the end?", late)
    assert end.text.startswith("At [tc @ 00:15–00:16] the screen shows: “00:00:15:00”."), end.text
    assert [c.start_s for c in end.citations] == [15.0, 14.0, 13.0]
    early = [Moment("tc", 4.0, 8.0, 1.0, clips[1:2], relevance=0.5), Moment("tc", 0.0, 4.0, 0.9, clips[:1], relevance=0.4)]
    _, start = run(ExtractiveAnswerer(KeywordEncoder()), "what timecode is shown at the beginning?", early)
    assert [c.start_s for c in start.citations] == [0.0, 1.0, 2.0], start.text
    _, anywhere = run(ExtractiveAnswerer(KeywordEncoder()), "what timecode is shown in the last 10 seconds?", late)
    assert [c.start_s for c in anywhere.citations] != [15.0, 14.0, 13.0]  # a stretch, not its edge: all of it answers


def test_the_first_or_last_thing_a_moment_holds_comes_first_where_the_first_or_last_is_asked():
    """"Who speaks first?" on a news call: the first moment (0-10 s) holds "Hello?" at 6.75 s and "Hello." at
    8.0 s, which score alike; the answer had said "Hello." first."""
    words = (Word(6.75, 6.94, "Hello?"), Word(8.0, 8.22, "Hello."), Word(8.35, 8.6, "Oh,"), Word(8.6, 8.84, "hello."))
    call = clip("news", 6.0, 10.0, words=words, transcript="Hello? Hello. Oh, hello.")
    moments = [Moment("news", 6.0, 10.0, 1.0, (call,), relevance=0.2)]
    _, first = run(ExtractiveAnswerer(KeywordEncoder()), "who speaks first?", moments)
    assert first.text.startswith("At [news @ 00:06–00:07] the speaker says: “Hello?”"), first.text
    _, last = run(ExtractiveAnswerer(KeywordEncoder()), "what is said last?", moments)
    assert last.text.startswith("At [news @ 00:08–00:09] the speaker says: “Oh, hello.”"), last.text


def test_the_last_card_read_is_the_latest_read_in_its_moment_not_the_title_card(settings):
    """The held-out card game: a title card "Card game night" (11.5-12 s), then cards read out one by one. "What is
    the last card read?" had been answered with the title card (it shares "card"): "read" was no verb of an
    order asked. The bundled question encoder scores them (the stand-in's hashed words would decide it)."""
    from streammm.models.registry import create_question_encoder

    said = [("ten", 12.2), ("of", 12.6), ("clubs", 12.8), ("Eight", 22.6), ("of", 22.9), ("spades.", 23.1), ("Seven", 24.8), ("of", 25.0), ("hearts.", 25.2)]
    words = tuple(Word(t, t + 0.2, w) for w, t in said)
    game = clip("cards", 11.5, 26.0, words=words, transcript=" ".join(w for w, _ in said),
                ocr_lines=(OcrLine(11.5, 12.0, "Card game night", x=0.5, y=0.5),))
    moments = [Moment("cards", 11.5, 26.0, 1.0, (game,), relevance=0.8, evidence="visual")]
    _, last = run(ExtractiveAnswerer(create_question_encoder(settings.models)), "what is the last card read?", moments)
    assert last.text.startswith("At [cards @ 00:24–00:26] the speaker says: “Seven of hearts.”"), last.text


def test_a_question_about_words_is_not_answered_with_the_frames_tags():
    """"When does the word amiable appear?": "appear" cues pictures, but a word is said or shown, and the frames'
    tags (the cat's slide, a moment of its own) had been the answer's first sentence."""
    spoken = clip("slides", 22.0, 26.0, words=(Word(23.2, 23.8, "amiable"), Word(23.8, 24.3, "himself.")), transcript="amiable himself.")
    cat = clip("slides", 2.0, 6.0, tags=("tabby", "Egyptian cat"))
    moments = [Moment("slides", 2.0, 6.0, 1.0, (cat,), relevance=0.7, evidence="visual"), Moment("slides", 23.2, 24.3, 0.9, (spoken,), relevance=0.6)]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "when does the word amiable appear?", moments)
    assert "the frames show" not in done.text and "amiable himself." in done.text, done.text
    _, seen = run(ExtractiveAnswerer(KeywordEncoder()), "when does a cat appear?", moments)
    assert seen.text.startswith("At [slides @ 00:02–00:06] the frames show: tabby, Egyptian cat."), seen.text


def test_what_a_moments_clips_hold_beside_its_fitted_span_is_not_said():
    """The butterfly's moment is 10-15 s ("slide 3 of 5"); its clips also show "slide 2 of 5" and "slide 4
    of 5", which are other slides' counters: the answer had said "slide 2 of 5" first."""
    lines = tuple(OcrLine(5.0 * n, 5.0 * n + 5, f"slide {n + 1} of 5", x=0.5, y=0.9) for n in (1, 2, 3))
    clips = tuple(clip("slides", t, t + 4, ocr_lines=tuple(ln for ln in lines if ln.start_s < t + 4 and ln.end_s > t)) for t in (8.0, 12.0, 14.0))
    moments = [Moment("slides", 10.0, 15.0, 1.0, clips, evidence="ocr", evidence_text="slide 3 of 5")]
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "which slide shows a butterfly?", moments)
    assert "slide 3 of 5" in done.text and "slide 2 of 5" not in done.text and "slide 4 of 5" not in done.text, done.text
    assert all(10.0 <= c.start_s < 15.0 for c in done.citations)


def test_candidates_far_weaker_than_the_best_are_not_said():
    """The typed command leads the narration by more than SCORE_MARGIN: the answer cites the terminal only,
    not a sentence of a moment the question is not about to make up three."""
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=3), "what command is typed?", MOMENTS)
    assert "ls /usr" in done.text and {c.stream_id for c in done.citations} == {"terminal"}
    said = [clip(name, 0.0, 4.0, words=(Word(1.0, 1.3, "The"), Word(1.3, 1.7, "river"), Word(1.7, 2.0, verb), Word(2.0, 2.4, f"{how}.")))
            for name, verb, how in (("a", "was", "cold"), ("b", "ran", "fast"))]  # fmt: skip
    close = [Moment(c.stream_id, 0.0, 4.0, 1.0, (c,)) for c in said]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=3), "what is said about the river?", close)
    assert {c.stream_id for c in done.citations} == {"a", "b"}  # two sentences that answer about as well: both said


def test_extractive_answer_with_no_evidence_says_so_and_cites_nothing():
    _, done = run(ExtractiveAnswerer(KeywordEncoder()), "anything?", [])
    assert done.citations == () and "nothing" in done.text


def test_rewriter_turns_markers_into_tags_and_drops_what_points_at_no_evidence():
    rewriter = CitationRewriter(label_evidence(MOMENTS), Evidence.of(MOMENTS))
    pieces = ["He says so [E", "1]. Typed [E2, E9] too", " [slides @ 00:07–00:09] and [moon @ 00:01–00:02]", " [E7]."]
    out = "".join(rewriter.feed(p) for p in pieces) + rewriter.finish()
    assert re.sub(r"[ \t]{2,}", " ", out).strip() == rewriter.text  # what streamed is the answer
    assert [c.clip_id for c in rewriter.citations] == [SLIDES.clip_id, TERMINAL.clip_id, SLIDES.clip_id]
    assert rewriter.removed == 3  # E9, the moon tag, E7
    assert "[E" not in rewriter.text and "moon" not in rewriter.text
    assert "[slides @ 00:06–00:10]" in rewriter.text and "[terminal @ 00:04–00:08]" in rewriter.text


def sse(*pieces: str) -> bytes:
    chunks = [f"data: {json.dumps({'choices': [{'delta': {'content': p}}]})}\n\n" for p in pieces]
    return ("".join(chunks) + "data: [DONE]\n\n").encode()


def test_llm_answerer_streams_the_model_text_with_only_evidence_citations():
    seen = {}

    def endpoint(request: httpx.Request) -> httpx.Response:
        seen["body"] = json.loads(request.content)
        seen["auth"] = request.headers.get("authorization")
        return httpx.Response(200, content=sse("He was not ill disposed ", "[E1]", ", and someone typed ls /usr [E2][E5]."))

    client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    config = LlmConfig(base_url="http://llm.invalid/v1", model="m", api_key="k-123")
    answerer = LlmAnswerer(config, ExtractiveAnswerer(KeywordEncoder()), client=client)
    deltas, done = run(answerer, "who?", MOMENTS)
    assert done.answerer == "llm" and done.removed_citations == 1
    assert [c.stream_id for c in done.citations] == ["slides", "terminal"]
    assert "".join(deltas).strip() == done.text
    assert "[E" not in done.text and "[slides @ 00:06–00:10]" in done.text
    assert seen["auth"] == "Bearer k-123" and seen["body"]["stream"] is True
    assert "[E2] stream terminal" in seen["body"]["messages"][1]["content"]


def test_llm_failure_falls_back_to_the_extractive_answer_with_a_note():
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(503, content=b"overloaded")))
    answerer = LlmAnswerer(LlmConfig(base_url="http://llm.invalid/v1"), ExtractiveAnswerer(KeywordEncoder()), client=client)
    _, done = run(answerer, "what command is typed?", MOMENTS)
    assert done.answerer == "extractive" and "503" in done.note and done.citations


class CountingEncoder(KeywordEncoder):
    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded += list(texts)
        return super().encode(texts)


def test_shared_text_vectors_encode_a_question_once_for_retrieval_and_answer() -> None:
    from streammm.qa.vectors import TextVectors

    counting = CountingEncoder()
    vectors = TextVectors(counting, size=100)
    question = "what command is typed?"
    asked = vectors.encode([question])[0]  # what retrieval does
    answerer = ExtractiveAnswerer(vectors)
    assert answerer.encoder is vectors  # shared, not wrapped again
    _, done = run(answerer, question, MOMENTS)
    assert "ls /usr" in done.text
    assert counting.encoded.count(question) == 1
    np.testing.assert_array_equal(asked, KeywordEncoder().encode([question])[0])
    run(answerer, question, MOMENTS)  # the same evidence again: nothing new to encode
    assert len(counting.encoded) == len(set(counting.encoded))


def test_text_vectors_forget_the_least_recently_used() -> None:
    from streammm.qa.vectors import TextVectors

    counting = CountingEncoder()
    vectors = TextVectors(counting, size=2)
    vectors.encode(["a b", "c d"])
    vectors.encode(["a b"])  # "c d" is now the oldest
    vectors.encode(["e f"])  # evicts "c d"
    vectors.encode(["a b", "c d"])
    assert counting.encoded == ["a b", "c d", "e f", "c d"]
    assert vectors.encode([]).shape == (0, KeywordEncoder.dim)


# --- where citations are in the answer text ----------------------------------------------------------------


def test_one_tag_format_and_its_places_in_a_text_taken_in_order():
    from streammm.qa.citations import seconds, spans, tag_for

    assert tag_for("lobby", 65.0, 69.5) == Citation("lobby", 65.0, 69.5, "c").tag
    assert seconds("1:02:05") == 3725.0 and seconds("00:07") == 7.0
    a, b = "[s @ 00:01–00:02]", "[t @ 00:03–00:04]"
    text = f"x {a} y {a} z {b}"
    assert spans(text, [a, a, b, "[missing]"]) == [(2, 19), (22, 39), (42, 59), None]
    assert [text[s:e] for s, e in spans(text, [a, a, b])] == [a, a, b]  # type: ignore[misc]


def test_answer_done_gives_each_citation_the_place_of_its_tag_in_code_points():
    from streammm.server.protocol import done_event

    cited = Citation("slides", 7.0, 9.0, SLIDES.clip_id)
    done = Done(f"🎬 “quoted” {cited.tag}, again {cited.tag}.", (cited, cited), "extractive")
    event = done_event("r", done)
    for c in event["citations"]:
        assert event["text"][c["text_start"] : c["text_end"]] == cited.tag
    # 11 code points precede it (the emoji is one; it would be two UTF-16 units)
    assert event["citations"][0]["text_start"] == 11 and event["citations"][1]["text_start"] > event["citations"][0]["text_end"]
    assert Citation(**event["citations"][0]) == cited, "a client can read a citation back (streammm ask does)"
    lost = done_event("r", Done("no tag here", (cited,), "llm"))["citations"][0]
    assert lost["text_start"] is None and lost["text_end"] is None


def test_citation_places_are_taken_after_unsupported_citations_are_removed():
    from streammm.server.protocol import done_event

    good, bad = Citation("slides", 7.0, 9.0, SLIDES.clip_id), Citation("other", 1.0, 2.0, "not-retrieved")
    event = done_event("r", keep_cited_evidence(Done(f"Also {bad.tag}. Yes {good.tag}.", (bad, good), "llm"), MOMENTS))
    [only] = event["citations"]
    assert event["text"][only["text_start"] : only["text_end"]] == good.tag


def test_answerers_citations_are_placed_on_their_tags():
    from streammm.server.protocol import done_event

    lines = (OcrLine(4.0, 6.0, "ls /usr", x=0.4, y=0.2), OcrLine(4.0, 6.0, "/usr ls", x=0.4, y=0.6))
    listing = [Moment("terminal", 4.0, 6.0, 1.0, (clip("terminal", 4.0, 8.0, ocr_lines=lines),))]
    _, done = run(ExtractiveAnswerer(KeywordEncoder(), max_sentences=3), "ls /usr", listing)  # two lines alike: both said
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=sse("Typed  [E2]  and said [E1, E2]."))))
    _, generated = run(LlmAnswerer(LlmConfig(base_url="http://llm.invalid/v1"), ExtractiveAnswerer(KeywordEncoder()), client=client), "?", MOMENTS)
    for answer in (done, generated):
        event = done_event("r", answer)
        assert len(event["citations"]) == len(answer.citations) >= 2
        for c, citation in zip(event["citations"], answer.citations):
            assert event["text"][c["text_start"] : c["text_end"]] == citation.tag
