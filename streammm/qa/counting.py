"""Questions that ask how many times something is said or shown, or for each time: "how many times is amiable
said?", "how often does the word Chicago come up?", "how many times does the timecode show 11?", "at what times
is amiable said?", "every time the narrator says rather".

The count is of what the evidence holds, not of moments: each spoken word of the question's one content word
(each run of its words within one phrase, for several), and each stretch of time its words are on screen.
Only the retrieved moments' clips are looked at, so a question about counting asks the search for more of
them (COUNT_K moments). Pure functions; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from streammm.qa.answer import Citation, Evidence
from streammm.qa.speech_fit import distinct_words, phrase_ends_after
from streammm.qa.moments import Moment, covering
from streammm.qa.ocr_fit import distinct_lines
from streammm.qa.terms import WORD_CUES, Terms, ends_sentence, shown_tokens, tokens
from streammm.records import Clip, OcrLine, Word

COUNT_K = 20  # moments a counting question asks the search for
MAX_COUNTED = 10  # times a count answer cites
SHOWN_GAP_S = 1.0  # on-screen reads of the counted words this close together are one time (a sample interval)
_NOT_COUNTED = re.compile(rf"\b(?:{'|'.join(sorted(WORD_CUES))})\b|\b(?:comes?|came)\s+up\b", re.I)
_COUNT = re.compile(
    r"\bhow\s+(?:many\s+times|often)\b|\b(?:the\s+)?number\s+of\s+times\b|\bcount\s+(?:the\s+)?(?:times|occurrences|mentions)\b"
    # each time, asked for: "every time the narrator says rather", "at what times is amiable said?", "give me the
    # timestamps where the word amiable appears" (not "the times table")
    r"|\b(?:every|each)\s+time\b|\b(?:at\s+)?what\s+(?:times|timestamps|moments)\b|\btimestamps?\s+(?:of|for|when|where)\b"
    r"|\b(?:(?:give|show|tell)\s+me\s+|list\s+)?(?:all\s+)?(?:of\s+)?the\s+(?:times|timestamps|moments)\s+(?:when|where|that|at\s+which)\b",
    re.I,
)


@dataclass(frozen=True)
class Occurrence:
    """One time the counted words were said (`kind` "speech") or came on screen ("ocr"), and where."""

    kind: str
    start_s: float
    end_s: float
    text: str  # the phrase said, or the line shown
    clip: Clip  # a clip of the evidence that holds it


def asks_count(question: str) -> bool:
    """Whether `question` asks how many times something happens, or for each time it does."""
    return bool(_COUNT.search(question))


def counted_text(question: str) -> str:
    """What `question` asks to count: its words less those that ask for a count ("how many times", "how
    often"), call what is counted words ("the word", "the name") or say that it comes up."""
    text = _COUNT.sub(" ", question)
    return _NOT_COUNTED.sub(" ", text)


def counted_terms(question: str) -> Terms:
    return Terms.of(counted_text(question))


def counted_words(question: str) -> str:
    """The words counted, as the question writes them: from its first content word to its last ("how many
    times is Keep This Configuration shown?": "Keep This Configuration")."""
    text = counted_text(question)
    content = set(Terms.of(text).content_words)
    words = re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text)
    hits = [i for i, w in enumerate(words) if content & set(tokens(w))]
    return " ".join(words[hits[0] : hits[-1] + 1]) if hits else ""


def occurrences(question: str, moments: Sequence[Moment]) -> list[Occurrence]:
    """Each time the question's content words were said or shown in the moments' clips, in time order per
    stream, of the kind of evidence the best moment was fitted to (speech or on-screen text; none for
    pictures, which are not counted)."""
    if not moments:
        return []
    best = max(moments, key=lambda m: m.relevance)
    terms = counted_terms(question)
    if best.evidence not in ("speech", "ocr") or not terms.content_words:
        return []
    found: list[Occurrence] = []
    for stream in dict.fromkeys(m.stream_id for m in moments):
        clips = [c for m in moments if m.stream_id == stream for c in m.clips]
        found += _said(terms, clips) if best.evidence == "speech" else _shown(terms, clips)
    return found


def _said(terms: Terms, clips: Sequence[Clip]) -> list[Occurrence]:
    """Each phrase (phrase_ends_after) that says every content word of `terms`, once per run of them: a run
    starts at a word of the first content word and takes the rest in the same phrase."""
    words = distinct_words(clips)
    wanted = terms.content_words
    found: list[Occurrence] = []
    first = 0
    for i in range(len(words)):
        if not phrase_ends_after(words, i):
            continue
        phrase = words[first : i + 1]
        first = i + 1
        hits = [(w, {terms.match(t) for t in tokens(w.text)}) for w in phrase]
        starts = [n for n, (_, said) in enumerate(hits) if wanted[0] in said]
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(hits)
            run = hits[start:end]
            if set(wanted) <= set().union(*(said for _, said in run)):
                last = max(k for k, (_, said) in enumerate(run) if said & set(wanted))
                found.append(_said_at(run[0][0], run[last][0], phrase, clips))
    return found


def _said_at(first: Word, last: Word, phrase: Sequence[Word], clips: Sequence[Clip]) -> Occurrence:
    text = " ".join(w.text.strip() for w in phrase)
    return Occurrence("speech", first.start_s, last.end_s, text, covering(clips, first.start_s, last.end_s))


def _shown(terms: Terms, clips: Sequence[Clip]) -> list[Occurrence]:
    """Each stretch of time a line with every content word of `terms` is on screen: the lines that have them
    (wherever they are), their times merged where they overlap or are at most SHOWN_GAP_S apart (a line
    misread at one sample, or the same words in two places at once, is still one time)."""
    wanted = set(terms.content_words)
    lines = sorted((ln for ln in distinct_lines(clips) if wanted <= {terms.match_shown(t) for t in shown_tokens(ln.text)}), key=lambda ln: ln.start_s)
    stretches: list[list[OcrLine]] = []
    for line in lines:
        if stretches and line.start_s <= max(ln.end_s for ln in stretches[-1]) + SHOWN_GAP_S:
            stretches[-1].append(line)
        else:
            stretches.append([line])
    found = []
    for stretch in stretches:
        start, end = stretch[0].start_s, max(ln.end_s for ln in stretch)
        found.append(Occurrence("ocr", start, end, stretch[0].text, covering(sorted(clips, key=lambda c: c.start_s), start, end)))
    return found


def count_answer(question: str, counted: Sequence[Occurrence], evidence: Evidence, *, saturated: bool) -> tuple[str, tuple[Citation, ...]]:
    """For "how many times is X said?": how many times, then each time (up to MAX_COUNTED), cited where the
    words were said or the line was shown. `saturated`: the search returned all the moments it was asked
    for, so there may be more than the moments hold ("at least")."""
    words = counted_words(question)
    verb = "said" if counted[0].kind == "speech" else "shown"
    n = len(counted)
    times = "once" if n == 1 else "twice" if n == 2 else f"{n} times"
    parts = [f"“{words}” is {verb} {'at least ' if saturated else ''}{times} in what was found:"]
    citations = []
    for one in counted[:MAX_COUNTED]:
        citation = evidence.cite(one.clip, one.start_s, one.end_s)
        text = one.text.strip().rstrip(",;:")
        parts.append(f" At {citation.tag} “{text}”{'' if ends_sentence(text) else '.'}")
        citations.append(citation)
    if n > MAX_COUNTED:
        parts.append(f" And {n - MAX_COUNTED} more.")
    return "".join(parts), tuple(citations)
