"""The offline answerer: the sentences, on-screen lines and frames of the evidence that best match the question.

Each retrieved moment is cut into candidates (spoken sentences with their word times, on-screen lines
with the span they were visible, the frames' tags), each candidate is scored against the question
(cosine in the text space, shared content words, cue words such as "say" or "typed", the moment's rank and
relevance, a number where the question asks how much) and the best few are said in plain sentences, each
citing the clip it came from, narrowed to when it was said or shown. What the question asks for may change
what is said: every line of a slide (qa/slides.py), the name the lower third shows for who said it
(qa/speakers.py), a list (qa/listing.py), one thing from each part of a video (qa/overview.py).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np

from streammm.models.base import TextEncoder
from streammm.qa.answer import AnswerEvent, Citation, Delta, Done, Evidence
from streammm.qa.candidates import Candidate, candidates, content_words
from streammm.qa.counters import asks_how_many_counted, counted_total, counter_total, on_the_counted, the_state_asked
from streammm.qa.counting import COUNT_K, asks_count, count_answer, occurrences
from streammm.qa.fitting import MIN_MATCH
from streammm.qa.listing import LISTED, asks_list, listed_kind, listed_text
from streammm.qa.moments import PRESS_EVIDENCE, Moment, covering
from streammm.qa.naming import without_names
from streammm.qa.ocr_fit import distinct_lines
from streammm.qa.overview import asks_overview, overview_of
from streammm.qa.placement import Place
from streammm.qa.popups import asks_popup, in_popup, popup_read
from streammm.qa.relative import Relative, relative_event, tells_the_event
from streammm.qa.slides import reads_screen, shown_with
from streammm.qa.speakers import asks_who, named_while
from streammm.qa.speech_fit import described, fit_speech
from streammm.qa.terms import Terms, asks_typing, ends_sentence, stem, tokens
from streammm.qa.vectors import remembering
from streammm.qa.when import EDGE_S, first_or_last_thing, named_time, occurrence, without_part
from streammm.records import OcrLine

SAME_TIME_S = 0.1  # a candidate that starts this close before its moment starts with it
SCORE_MARGIN = 0.2  # a candidate scoring this much less than the best is not said (docs/eval.md, answers)
MIN_PIECE_WORDS = 3  # content words a piece of a sentence needs to be said without the question's words
NOTHING_FOUND = "No moment matched well: I found nothing in the indexed streams that answers this."

# Words in a question that point at one kind of evidence.
CUES = {
    "speech": frozenset("say says said saying tell tells told speak speaks spoke speaking spoken speaker narrator narrates talk talks talking mention mentions mentioned voice words".split()),
    "typed": frozenset("type types typed typing enter enters entered command commands input search searches searched".split()),
    "screen": frozenset("write writes written screen shown shows display displays displayed text label title reads button menu dialog subtitle subtitles caption captions".split()),
    "frames": frozenset("see seen look looks appear appears picture image scene person people wearing color colour".split()),
}
QUANTITY_BONUS = 0.2  # a question that asks how much, how many or what year is answered with a number
# "how much", "how many people", "what percentage", "what year": not "how many times" (a count: qa/counting.py)
_QUANTITY = re.compile(
    r"\bhow\s+(?:much|many(?!\s+times)|long|far|old|big|large|fast|high|tall|heavy|deep|wide)\b"
    r"|\bwhat\s+(?:percentage|percent|share|fraction|number|year|date|price|cost|score|amount|temperature|speed|size|age)\b"
    r"|\b(?:which|what)\s+year\b",
    re.I,
)
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|half|dozen)\b", re.I)
CUE_BONUS = 0.4  # a cue names the kind of answer wanted: a strong prior
WORD_BONUS = 0.25
RANK_BONUS = 0.1
RELEVANCE_BONUS = 0.3  # times a candidate's moment's relevance over the best moment's (docs/eval.md, answers)
PLACE_BONUS = 0.5  # times a line's nearness (0-1) to the edges of the place on screen asked about
EDGE_BONUS = 0.5  # times a candidate's nearness (0-1) to the beginning (end) asked about: "what is shown at the end?"


class ExtractiveAnswerer:
    """Answers from the evidence alone; needs no network. `encoder` is the profile's text encoder."""

    name = "extractive"

    def __init__(
        self,
        encoder: TextEncoder,
        *,
        max_sentences: int = 3,
        run: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        """`run(fn, *args)` runs the blocking part (asyncio.to_thread unless given: the server passes its workers).
        Vectors are remembered (popular moments come back); give a TextVectors to share that memory."""
        self.encoder = remembering(encoder)
        self._run = run or asyncio.to_thread
        self.max_sentences = max_sentences

    async def answer(self, question: str, moments: Sequence[Moment]) -> AsyncIterator[AnswerEvent]:
        evidence = Evidence.of(moments)
        counted = await self._run(occurrences, question, moments) if asks_count(question) else []
        if counted:
            text, citations = count_answer(question, counted, evidence, saturated=len(moments) >= COUNT_K)
            yield Delta(text)
            yield Done(text, citations, self.name)
            return
        counter = await self._run(_counter_of, moments) if asks_how_many_counted(question) else None
        if counter is not None:
            # "How many slides are there?": as many as the counter says ("slide 5 of 5"), cited where it says it.
            citation = evidence.cite(counter.clip, counter.start_s, counter.end_s)
            text = f"{counter_total(counter.text)}, as the counter shows. {say(counter, citation)}"
            yield Delta(text)
            yield Done(text, (citation,), self.name)
            return
        picked, place = await self._run(self.pick, question, moments)
        if not picked:
            yield Delta(NOTHING_FOUND)
            yield Done(NOTHING_FOUND, (), self.name)
            return
        parts: list[str] = []
        citations: list[Citation] = []
        terms = Terms.of(question)
        lines: dict[str, list[OcrLine]] = {}  # "who says ...?": each stream's lines, for the name the lower third shows
        if asks_who(question):
            for stream in {m.stream_id for m in moments}:
                lines[stream] = distinct_lines(c for m in moments if m.stream_id == stream for c in m.clips)
        for candidate in picked:
            start_s, end_s = said_when(candidate, terms)
            clip = candidate.clip
            if not clip.start_s <= start_s <= end_s <= clip.end_s:  # the words cited are in another clip of its sentence
                clip = covering(moments[candidate.moment_rank].clips, start_s, end_s)
            citation = evidence.cite(clip, start_s, end_s)
            sentence = say(candidate, citation, place=place)
            if lines and candidate.kind in ("speech", "screen"):
                sentence += _named_then(candidate, lines[candidate.clip.stream_id], start_s, end_s)
            text = sentence if not parts else " " + sentence
            parts.append(text)
            citations.append(citation)
            yield Delta(text)
        yield Done("".join(parts), tuple(citations), self.name)

    def pick(self, question: str, moments: Sequence[Moment]) -> tuple[list[Candidate], Place | None]:
        """The best candidates for `question`, best first, at most one per (kind, text, stream), and only those
        scoring within SCORE_MARGIN of the best; for an overview, one per moment in time order (overview_of).
        And the place on screen the answer is asked for (place_asked), which the answer's sentences say."""
        terms = Terms.of(question)
        found = _telling(candidates(moments), content_words(question))
        found = the_state_asked(on_the_counted(found, terms.numbers), question)
        reading = reads_screen(question)
        if moments and moments[0].evidence == PRESS_EVIDENCE:
            # "when does the user click Apply?", or "Mirror displays", found where it was pressed: the press
            found = [c for c in found if c.kind == "pressed"] or found
        if asks_popup(question):  # "what does the dialog say?": the pop-up's lines, not those of the screen under it
            found = [c for c in found if c.at is not None and in_popup(c.clip.stream_id, c.at, moments)] or found
        if terms.asks_for_words:  # "when does the word amiable appear?": words said or shown, not the frames' tags
            found = [c for c in found if c.kind != "frames"] or found
        around = relative_event(question)
        asked = around.asked if around is not None else question  # "what is listed after ls /usr is typed?": not typing
        if asks_typing(asked):
            # "What command is typed in the terminal?": the text typed, where any was, not the window's title ": bash"
            found = [c for c in found if c.kind == "typed"] or found
        place = place_asked(question, around)
        if place is not None and not place.soft:
            # "What does the text at the bottom say?": the lines shown there answer it, where the moments have any.
            found = [c for c in found if c.at is not None and place.holds(c.at.x, c.at.y)] or found
        if asks_overview(question):
            return overview_of(found, len(moments)), place
        thing = first_or_last_thing(question)
        which = occurrence(question)
        near: Callable[[Candidate], float] | None = None
        if which is not None and thing is None:
            # "When is X first said?": QueryService put the first (or last) occurrence first; the others
            # are X too, but not the one asked for; nor is what the first moment's clips hold beside it. Of
            # what that moment holds, the earlier (later) is nearer what was asked ("who speaks first?").
            first = moments[0]
            ours = [c for c in found if c.moment_rank == 0]
            found = [c for c in ours if c.start_s < first.end_s and c.end_s > first.start_s] or ours or found
            edge = "start" if which == "first" else "end"
            near = nearness_to(edge, {first.stream_id: first.start_s if edge == "start" else first.end_s})
        if around is not None:
            # "What is listed after ls /usr is typed?": QueryService searched the seconds after the event. What
            # there is the event itself (the command line, still on screen), or was there before those seconds
            # began (a window title), is not what came; what is asked is the rest of the question. ("What is
            # said while the fruit is shown?": the event's own seconds, where what was there all along was there.)
            found = [c for c in found if not tells_the_event(around, c.text, said=c.kind == "speech")] or found
            if around.during:  # mostly inside the event's seconds, where anything is
                found = [c for c in found if _mostly_inside(c, moments[c.moment_rank])] or found
            else:
                found = [c for c in found if c.start_s >= moments[c.moment_rank].start_s - SAME_TIME_S] or found
                # What came just after (before) it is nearest the event: "what is said after ten of clubs?" is the next
                # card read, not the best-scoring one of the ten seconds after.
                first, edge = moments[0], "start" if around.when == "after" else "end"
                near = nearness_to(edge, {first.stream_id: first.start_s if edge == "start" else first.end_s})
            question = around.asked if content_words(around.asked) else question
        named = named_time(question)
        if named is not None and named.last_s is not None:
            # "What is shown at the end?": each stream's moments are its last seconds (QueryService), so its
            # latest clip ends where it ends; what was said or shown before that stretch does not answer (what
            # began in it does; else what runs into it).
            ends: dict[str, float] = {}
            for clip in (c for m in moments for c in m.clips):
                ends[clip.stream_id] = max(ends.get(clip.stream_id, clip.end_s), clip.end_s)
            within = [c for c in found if c.start_s >= ends[c.clip.stream_id] - named.last_s]
            found = within or [c for c in found if c.end_s > ends[c.clip.stream_id] - named.last_s] or found
        elif named is not None:
            # "What is said at 1:30?": only what was said or shown then answers it, where the moments hold
            # any (a client's time_range, which the search took instead, may hold none).
            lo, hi = named.start_s or 0.0, math.inf if named.end_s is None else named.end_s
            found = [c for c in found if c.start_s < hi and c.end_s > lo] or found
            if named.at_s is not None:  # "at 0:22": what was said or shown at that second, where anything was
                found = [c for c in found if c.start_s <= named.at_s <= c.end_s] or found
        if not found:
            return [], place
        if thing is not None:
            # "What is the first thing the narrator says?": QueryService searched the beginning (the end); of what
            # was said there (or shown, as asked), the earliest (latest).
            return [first_or_last(found, moments, content_words(question), thing, place)], place
        question = without_names(question, {m.stream_id for m in moments})  # "is there a dog in the slideshow?": not "slide 4 of 5"
        question = without_part(question)  # "what animal is on the first slide?": not "slide 1 of 5"
        listing = asks_list(question)
        if listing:
            question = listed_text(question)  # "list all the slides": "All Settings" is not one
        vectors = self.encoder.encode([question, *(c.text for c in found)])
        if named is not None and named.edge is not None:
            near = nearness_to(named.edge, stream_edges(named.edge, moments))
        elif named is not None and named.at_s is not None:
            near = began_near(named.at_s)  # "what happens at 0:20?": not the channel's logo, there all along
        # The best moment's evidence answers before a far weaker one's; not where every moment answers alike: a
        # list's things (a slide each), or what is there at a time named or around an event, however weak.
        share = None if listing or named is not None or around is not None else relevance_shares(moments)
        scores = score_candidates(question, vectors[0], vectors[1:], found, place=place, near_edge=near, moment_share=share)
        order = sorted(range(len(found)), key=lambda i: -scores[i])
        lead_line = next((i for i in order if found[i].kind == "screen"), None) if reading else None
        if lead_line is not None and asks_popup(question):  # "what does the dialog say?": every line of it
            return popup_read(found[lead_line], found, moments), place
        if lead_line is not None:  # "what does the slide about batteries say?": every line of the slide its title finds
            return shown_with(found[lead_line], found), place
        most = max(self.max_sentences, LISTED) if listing else self.max_sentences
        picked: list[Candidate] = []
        seen: set[tuple[str, str, str]] = set()
        lead = order[0]
        like = None
        if listing:
            kind = listed_kind(question)  # "name the cards read": the best card read out leads, not the title card
            lead = next((i for i in order if found[i].kind == kind), lead)
            like = listed_like(Terms.of(question), found[lead])
        for i in order:
            if picked and scores[i] < scores[lead] - SCORE_MARGIN:
                break  # the rest answer far worse than the best: saying them only adds wrong citations
            if like is not None and not like(found[i]):
                continue  # a list is of like things
            key = (found[i].kind, found[i].text.lower(), found[i].clip.stream_id)
            if key not in seen:
                seen.add(key)
                picked.append(found[i])
            if len(picked) == most:
                break
        if listing and picked:  # in the order it came, the best one's stream first
            best = picked[0].clip.stream_id
            picked.sort(key=lambda c: (c.clip.stream_id != best, c.clip.stream_id, c.start_s))
        elif around is not None and not around.during:
            picked.sort(key=lambda c: c.start_s)  # what came after (or before) it, in the order it came
        return picked, place


def _counter_of(moments: Sequence[Moment]) -> Candidate | None:
    """The counter line of the moments that says how many there are (counters.counted_total)."""
    return counted_total(candidates(moments))


def score_candidates(
    question: str,
    question_vector: np.ndarray,
    vectors: np.ndarray,
    found: Sequence[Candidate],
    *,
    place: Place | None = None,
    near_edge: Callable[[Candidate], float] | None = None,
    moment_share: Sequence[float] | None = None,
) -> list[float]:
    """Cosine with the question, plus bonuses for shared content words, a cue for the candidate's kind, the
    rank of its moment and (`moment_share`, by rank: relevance_shares) its relevance against the best moment's,
    where the question names a place on screen, a line's nearness to its edges (the bottommost line for "the text
    at the bottom"), and where it asks about the beginning or the end, a candidate's nearness to it (`near_edge`:
    the last timecode for "what timecode is shown at the end?")."""
    asked = content_words(question)
    cued = {kind for kind, words in CUES.items() if asked & words}
    # A cue word names the kind of answer, not what it says: "Type to search..." shares no word of "what does
    # the user type in the search?" that the text typed there does not.
    asked -= {word for kind in cued for word in CUES[kind]}
    # Shared by stem: "Apply" is a word of "which button applies the settings?", "Displays" of "display settings".
    asked_stems = {stem(word) for word in asked}
    quantity = bool(_QUANTITY.search(question))
    cosines = vectors @ question_vector
    scores = []
    for candidate, cosine in zip(found, cosines):
        shared = len(asked_stems & {stem(word) for word in content_words(candidate.text)}) / len(asked_stems) if asked_stems else 0.0
        score = float(cosine) + WORD_BONUS * shared + RANK_BONUS / (1 + candidate.moment_rank)
        if moment_share is not None:
            score += RELEVANCE_BONUS * moment_share[candidate.moment_rank]
        if quantity and candidate.kind != "frames" and _NUMBER.search(candidate.text):
            score += QUANTITY_BONUS  # "how much did costs fall?": "Costs fell 90% since 2010", not the slide's title
        if candidate.kind in cued:
            score += CUE_BONUS
        if place is not None and candidate.at is not None:
            score += PLACE_BONUS * place.nearness(candidate.at.x, candidate.at.y)
        if near_edge is not None:
            score += EDGE_BONUS * near_edge(candidate)
        scores.append(score)
    return scores


def relevance_shares(moments: Sequence[Moment]) -> list[float] | None:
    """Each moment's relevance as a share of the best one's (None where none has any): what a far less relevant
    moment holds ("Summary", the title of a slide that matched a fifth as well) answers worse than what the
    best holds ("Wind Power", the title of the slide whose counter reads 3, for "the title of the third slide")."""
    best = max((m.relevance for m in moments), default=0.0)
    return [m.relevance / best for m in moments] if best > 0 else None


def stream_edges(edge: str, moments: Sequence[Moment]) -> dict[str, float]:
    """Each stream's beginning (`edge` "start") or end ("end"): where its earliest (latest) clip among the
    moments starts (ends). For "what is shown at the end?" QueryService searched each stream's last seconds."""
    edges: dict[str, float] = {}
    for clip in (c for m in moments for c in m.clips):
        t = clip.start_s if edge == "start" else clip.end_s
        was = edges.get(clip.stream_id, t)
        edges[clip.stream_id] = min(was, t) if edge == "start" else max(was, t)
    return edges


def listed_like(terms: Terms, best: Candidate) -> Callable[[Candidate], bool]:
    """What a list answer says beside its `best` candidate: the same kind of evidence (lines shown, sentences
    said, text typed), and where the best has some of the question's words ("slide 1 of 5" for "list all the
    slides"), those that have some too (not "All Settings", a line of another video that scored about as well)."""

    def words(candidate: Candidate) -> bool:
        return any(term is not None and terms.weights[term] >= 1.0 for term in map(terms.match, tokens(candidate.text)))

    lexical = words(best)
    return lambda candidate: candidate.kind == best.kind and (not lexical or words(candidate))


def began_near(at_s: float) -> Callable[[Candidate], float]:
    """How near when a candidate began is to `at_s`: 1 then, 0 EDGE_S or more away. What happens at a time is
    what begins about then, more than what stood on screen all along."""

    def nearness(candidate: Candidate) -> float:
        began = candidate.at.start_s if candidate.at is not None else candidate.start_s  # a line: when it came, not its clip
        return max(0.0, 1.0 - abs(began - at_s) / EDGE_S)

    return nearness


def nearness_to(edge: str, at: Mapping[str, float]) -> Callable[[Candidate], float]:
    """How near a candidate is to the time `at` its stream (where it has one) begins (`edge` "start") or ends
    ("end") what is asked: 1 from it (to it), 0 EDGE_S or more away."""

    def nearness(candidate: Candidate) -> float:
        t = at.get(candidate.clip.stream_id)
        if t is None:
            return 0.0
        away = candidate.start_s - t if edge == "start" else t - candidate.end_s
        return max(0.0, 1.0 - max(0.0, away) / EDGE_S)

    return nearness


def _telling(found: list[Candidate], asked: set[str]) -> list[Candidate]:
    """The candidates less the pieces of sentences that tell nothing: a piece says something where it has the
    question's words or MIN_PIECE_WORDS content words of its own ("He was" and "And Mr." do not), and not
    where another moment holds the whole sentence."""
    def told_elsewhere(piece: Candidate) -> bool:
        return any(
            other is not piece and other.kind == "speech" and other.clip.stream_id == piece.clip.stream_id and piece.text in other.text
            for other in found
        )

    def tells(piece: Candidate) -> bool:
        said = content_words(piece.text)
        return bool(said & asked or len(said) >= MIN_PIECE_WORDS) and not told_elsewhere(piece)

    return [c for c in found if not c.partial or tells(c)]


def place_asked(question: str, around: Relative | None) -> Place | None:
    """The place on screen the answer is asked for. In "what is said when the lower third shows X?" the place
    is the event's, not the answer's (`around`: the question's relative_event)."""
    return Terms.of(around.asked if around is not None else question).place


def first_or_last(
    found: Sequence[Candidate], moments: Sequence[Moment], asked: set[str], which: str, place: Place | None = None
) -> Candidate:
    """The earliest (`which` "first") or latest candidate of the kind the question's cue words ask for (said,
    shown, typed, seen), else of what was said or shown, else of all; shown at `place`, where it names one
    and any is ("the last subtitle"); in the stream of the most relevant moment that has one (the moments
    come in time order, not best first). Of lines shown until the same time, the latest is the one that came
    last."""
    cued = {kind for kind, words in CUES.items() if asked & words}
    pool = [c for c in found if c.kind in cued] or [c for c in found if c.kind != "frames"] or list(found)
    if place is not None:
        pool = [c for c in pool if c.at is not None and place.holds(c.at.x, c.at.y)] or pool
    streams = {c.clip.stream_id for c in pool}
    best = max((m for m in moments if m.stream_id in streams), key=lambda m: m.relevance, default=None)
    pool = [c for c in pool if best is None or c.clip.stream_id == best.stream_id]

    def nearness(c: Candidate) -> float:  # of two lines that came together, the one nearer the place asked about
        return place.nearness(c.at.x, c.at.y) if place is not None and c.at is not None else 0.0

    if which == "first":
        return min(pool, key=lambda c: (c.start_s, -nearness(c)))
    return max(pool, key=lambda c: (c.end_s, c.start_s, nearness(c)))


def _named_then(candidate: Candidate, lines: Sequence[OcrLine], start_s: float, end_s: float) -> str:
    """" The lower third then reads: “DIANE New Jersey”." where a name caption is shown over most of what a
    candidate says (speakers.named_while, among its stream's `lines`; not the candidate's own line); else nothing."""
    name = named_while(start_s, end_s, lines, said=candidate.text)
    if name is None or (candidate.at is not None and candidate.at.text == name.text):
        return ""
    return f" The lower third then reads: “{name.text.strip()}”."


def _mostly_inside(candidate: Candidate, moment: Moment) -> bool:
    """Whether at least half of `candidate`'s seconds are inside `moment`."""
    inside = min(candidate.end_s, moment.end_s) - max(candidate.start_s, moment.start_s)
    return inside >= 0.5 * (candidate.end_s - candidate.start_s)


def said_when(candidate: Candidate, terms: Terms) -> tuple[float, float]:
    """The span a candidate is cited for: a sentence's words that match the question's (fit_speech, where they
    have at least MIN_MATCH of them: "when is the name Dashwood said?" seeks to "Dashwood", not to the
    sentence's first word), else all of it."""
    run = fit_speech(terms, candidate.words) if candidate.kind == "speech" and candidate.words else None
    if run is None or run.match < MIN_MATCH:
        return candidate.start_s, candidate.end_s
    run = described(terms, candidate.words, run)
    return max(run.start_s, candidate.start_s), min(run.end_s, candidate.end_s)


def say(candidate: Candidate, citation: Citation, *, place: Place | None = None) -> str:
    """One plain sentence for a candidate, ending with its citation tag (a line shown at the place on screen
    asked about says where: "the bottom of the screen shows")."""
    text = candidate.text.strip()
    if candidate.kind == "speech":
        return f"At {citation.tag} the speaker says: “{text}”"
    if candidate.kind == "screen":
        at = candidate.at
        where = "the screen"
        if place is not None and at is not None and min(at.x, at.y) >= 0 and place.holds(at.x, at.y):  # known to be there
            where = f"{place.name} of the screen"
        return f"At {citation.tag} {where} shows: “{text}”{'' if ends_sentence(text) else '.'}"
    if candidate.kind == "typed":
        return f"At {citation.tag} “{text}” is typed on screen (the line reads “{candidate.line.strip()}”)."
    if candidate.kind == "pressed":
        return f"At {citation.tag} “{text}” is pressed on screen."
    return f"At {citation.tag} the frames show: {text}."
