"""The pieces of evidence an answer is made of: each retrieved moment's spoken sentences (with their word
times), on-screen lines (with the span they were visible and where they were; a label said with its value),
text typed on screen (a line that grew in place), and its frames' tags.

Pure functions of the moments; which pieces answer a question is the answerer's (qa/extractive.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from streammm.qa.speech_fit import distinct_words, sentence_ends_after
from streammm.qa.moments import PRESS_EVIDENCE, Moment, covering
from streammm.qa.terms import STOPWORDS, ends_sentence
from streammm.qa.typed import SAME_ROW, typed_into
from streammm.records import Clip, OcrLine, Word

MAX_SENTENCE_WORDS = 30
MAX_LABEL_GAP = 0.5  # how far right of a label (fraction of the frame's width) what it labels may be


@dataclass(frozen=True)
class Candidate:
    kind: str  # speech | screen | typed | pressed | frames
    text: str
    clip: Clip
    start_s: float
    end_s: float
    moment_rank: int  # 0 = the best moment
    line: str = ""  # typed: the whole on-screen line the text was typed into
    partial: bool = False  # speech: a sentence the moment's clips cut off ("He was", its rest in a clip not retrieved)
    words: tuple[Word, ...] = ()  # speech: the sentence's words
    at: OcrLine | None = None  # screen, typed: the line, where it was on screen and when it came and went


def candidates(moments: Sequence[Moment]) -> list[Candidate]:
    """Every spoken sentence, on-screen line and frame-tag list of the moments."""
    found: list[Candidate] = []
    # Text typed is read from every moment's lines of its stream: one moment's clips may end while "ls /" is on
    # the line, another's begin after it, and the text typed is "ls /usr" in both.
    streams = _stream_lines(moments)
    for rank, moment in enumerate(moments):
        mine = _sentences(moment, rank) + _screen_lines(moment, rank, streams[moment.stream_id])
        # What the moment's clips hold beside its fitted span ("slide 2 of 5" beside the butterfly's "slide 3
        # of 5") is not what it found, where anything said or shown is inside it.
        inside = [c for c in mine if c.start_s < moment.end_s and c.end_s > moment.start_s]
        found += (inside + _typed_beside(mine, inside)) if inside else mine
        if moment.evidence == PRESS_EVIDENCE:  # "when is Apply clicked?": the press, not the seconds the line is shown
            found.append(Candidate("pressed", moment.evidence_text, moment.clips[0], moment.start_s, moment.end_s, rank))
        best = moment.clips[0]
        if best.tags:
            found.append(Candidate("frames", ", ".join(best.tags[:5]), best, best.start_s, best.end_s, rank))
    return found


def _typed_beside(mine: Sequence[Candidate], inside: Sequence[Candidate]) -> list[Candidate]:
    """Of a moment's candidates outside its fitted span, the text typed on the row of a line inside it: the
    line that matched is the field typed into ("Type to search...", a prompt), and what was typed there is
    what it found ("what does the user type in the search?": "displays", typed just after the placeholder
    went)."""
    rows = [c.at for c in inside if c.at is not None]
    return [
        c for c in mine
        if c.kind == "typed" and c not in inside and c.at is not None and any(_same_row(c.at, line) for line in rows)
    ]


def _same_row(a: OcrLine, b: OcrLine) -> bool:
    return min(a.x, a.y, b.x, b.y) >= 0 and abs(a.y - b.y) <= SAME_ROW


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS and len(w) > 1}


def _sentences(moment: Moment, rank: int) -> list[Candidate]:
    """The moment's spoken sentences (ended as moment fitting ends them: sentence_ends_after), at most
    MAX_SENTENCE_WORDS words each."""
    words = distinct_words(moment.clips)
    if not words:
        return [Candidate("speech", c.transcript, c, c.start_s, c.end_s, rank) for c in moment.clips if c.transcript.strip()]
    found = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        last = i == len(words) - 1
        if last or sentence_ends_after(words, i) or len(current) >= MAX_SENTENCE_WORDS:
            start, end = current[0].start_s, current[-1].end_s
            text = " ".join(w.text.strip() for w in current).strip()
            if text:
                # Cut off by the moment's clips: its last words unpunctuated where the words run out, or its
                # first word in lower case (or a word's hyphenated rest) where they begin (the recogniser
                # capitalises a sentence's start).
                partial = (last and not ends_sentence(word.text)) or (not found and (text[:1].islower() or text[:1] in "-–—,"))
                found.append(Candidate("speech", text, covering(moment.clips, start, end), start, end, rank, partial=partial, words=tuple(current)))
            current = []
    return found


def _stream_lines(moments: Sequence[Moment]) -> dict[str, _StreamLines]:
    """Each stream's on-screen lines over every moment's clips; a line that overlapping clips both saw (the same
    text over overlapping seconds: each clip knows its span as far as it saw) once, over the seconds either saw."""
    seen: dict[tuple[str, str], list[OcrLine]] = {}  # (stream, text): each time that text was on screen
    for clip in (c for m in moments for c in m.clips):
        for line in _lines_of(clip):
            times = seen.setdefault((clip.stream_id, line.text), [])
            same = next((i for i, o in enumerate(times) if o.start_s <= line.end_s and line.start_s <= o.end_s), None)
            if same is None:
                times.append(line)
            else:
                times[same] = replace(times[same], start_s=min(times[same].start_s, line.start_s), end_s=max(times[same].end_s, line.end_s))
    streams: dict[str, dict[str, list[OcrLine]]] = {m.stream_id: {} for m in moments}
    for (stream, text), times in seen.items():
        streams[stream][text] = times
    return {stream: _StreamLines(by_text) for stream, by_text in streams.items()}


class _StreamLines:
    """A stream's lines over every moment's clips, each over all the seconds any clip saw it (whole), and by
    where text typed into a line may be (near): a line's earlier and later states start with the same two
    characters and are on its row (a screen full of text has hundreds of lines; a line is compared with those
    few)."""

    def __init__(self, by_text: dict[str, list[OcrLine]]) -> None:
        self._by_text = by_text
        self._rows: dict[tuple[str, int | None], list[OcrLine]] = {}
        self._any_row: dict[str, list[OcrLine]] = {}
        for line in (ln for times in by_text.values() for ln in times):
            self._rows.setdefault((line.text[:2], _row(line)), []).append(line)
            self._any_row.setdefault(line.text[:2], []).append(line)

    def whole(self, line: OcrLine) -> OcrLine:
        """`line` as a clip saw it, over all the seconds any clip saw it (when it came and went: a logo there all
        along, a slide's lines shown together)."""
        return next((o for o in self._by_text.get(line.text, ()) if o.start_s <= line.end_s and line.start_s <= o.end_s), line)

    def near(self, line: OcrLine) -> list[OcrLine]:
        """The lines that may be `line` earlier or later: of its first two characters, on its row or the rows
        next to it, or where a place is unknown (older stores), anywhere."""
        start, row = line.text[:2], _row(line)
        if row is None:
            return self._any_row.get(start, [])
        return [ln for r in (row - 1, row, row + 1, None) for ln in self._rows.get((start, r), ())]


def _row(line: OcrLine) -> int | None:
    """The band of SAME_ROW the line's centre is in (None: its place is unknown)."""
    return None if min(line.x, line.y) < 0 else math.floor(line.y / SAME_ROW)


def _lines_of(clip: Clip) -> list[OcrLine]:
    """The clip's on-screen lines (a store made before lines kept their spans: its text, over the clip)."""
    return list(clip.ocr_lines) or [OcrLine(clip.start_s, clip.end_s, t) for t in clip.ocr_text.splitlines()]


def _screen_lines(moment: Moment, rank: int, stream: _StreamLines) -> list[Candidate]:
    """On-screen lines, each cited in the clip that shows most of it from its start (_citing; a label, "Resolution:",
    with the value beside it: _values_of) and placed (`at`) as the whole stream saw it; a line that grew in
    place from an earlier line (text being typed, read from every moment's lines of the stream) also gives a
    `typed` candidate for what was added."""
    showing: dict[str, list[tuple[OcrLine, Clip]]] = {}
    for clip in moment.clips:  # best first
        for line in _lines_of(clip):
            if line.text.strip():
                showing.setdefault(line.text, []).append((line, clip))
    shown = [_citing(seen) for seen in showing.values()]
    lines = [line for line, _ in shown]
    found = []
    for line, clip in shown:
        values = _values_of(line, lines)
        if not values:
            found.append(Candidate("screen", line.text.strip(), clip, max(line.start_s, clip.start_s), min(line.end_s, clip.end_s), rank, at=stream.whole(line)))
        for value in values:  # "Resolution:" is said with what it labels: "Resolution: 1024 x 768 (4:3)"
            start_s, end_s = max(line.start_s, value.start_s, clip.start_s), min(line.end_s, value.end_s, clip.end_s)
            found.append(Candidate("screen", f"{line.text.strip()} {value.text.strip()}", clip, start_s, max(start_s, end_s), rank, at=stream.whole(line)))
    for line, clip in shown:
        typed = typed_into(line, stream.near(line), shown_with=lines)
        if typed is not None:
            text, started = typed
            clip = covering(moment.clips, started, line.end_s)  # cited from where the typing began: the player seeks there
            found.append(Candidate("typed", text, clip, max(started, clip.start_s), min(line.end_s, clip.end_s), rank, line=line.text, at=stream.whole(line)))
    return found


def _citing(seen: Sequence[tuple[OcrLine, Clip]]) -> tuple[OcrLine, Clip]:
    """The clip a line is cited in, as a sentence is (moments.covering): of the clips that saw it when the best
    clip did (the same text may come again later: another appearance, another line), the one that shows most of
    it from its start, with the line as that clip saw it. A line that came as the best clip ended (its last
    millisecond) is cited where it is seen."""
    first = seen[0][0]
    same = [(ln, c) for ln, c in seen if ln.start_s <= first.end_s and first.start_s <= ln.end_s]
    clip = covering([c for _, c in same], min(ln.start_s for ln, _ in same), max(ln.end_s for ln, _ in same))
    return next(pair for pair in same if pair[1] is clip)


def _values_of(label: OcrLine, lines: Sequence[OcrLine]) -> list[OcrLine]:
    """What a label ("Resolution:", "Score:") labels: the nearest lines to its right on its row while it
    shows (one per value it showed over time; a form's field, a setting, a scoreboard). None for a line that
    is not a label or whose place is unknown."""
    if not label.text.rstrip().endswith(":") or min(label.x, label.y) < 0:
        return []
    beside = [
        o for o in lines
        if o is not label and o.x > label.x and o.x - label.x <= MAX_LABEL_GAP and abs(o.y - label.y) <= SAME_ROW
        and o.start_s < label.end_s and o.end_s > label.start_s and not o.text.rstrip().endswith(":")
    ]
    if not beside:
        return []
    nearest = min(o.x for o in beside)
    return sorted((o for o in beside if o.x - nearest <= SAME_ROW), key=lambda o: o.start_s)
