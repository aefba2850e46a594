"""Questions that ask what a whole video holds: "what is this video about?", "summarize the talk", "give me
an overview". The moments nearest their words would be any; they are answered from moments spread over the
video instead, in time order (QueryService), one thing said or shown from each (overview_of, for the
ExtractiveAnswerer).

Only a request for a summary is taken: "the summary slide" or "an outline is drawn" are words to search for.
"""

from __future__ import annotations

import re

from collections.abc import Sequence

from streammm.qa.candidates import Candidate, content_words
from streammm.qa.when import NAMED_MEDIA

MIN_PART_S = 4.0  # a part of a video an overview takes a moment from is at least this long (a clip)
STANDING_WORDS = 3  # an overview's line this short ...
STANDING_SHARE = 0.8  # ... on screen over this share of what the moments cover is a logo or a clock

_OVERVIEW = re.compile(
    r"\bsummari[sz]e\b"
    r"|\b(?:give|show|tell|need|want)\s+(?:me\s+|us\s+)?(?:a|an|the)\s+(?:short\s+|brief\s+|quick\s+)?(?:summary|overview|recap|rundown)\b"
    rf"|^\s*(?:short\s+|brief\s+|quick\s+)?(?:summary|overview|recap|tl;?\s?dr)(?:\s+please|\s+of\s+{NAMED_MEDIA}|\s+of\s+it)?\s*[?.!:]*\s*$"
    rf"|\bwhat(?:\s+is|\s+was|'s|’s)\s+(?:{NAMED_MEDIA}|it)\s+(?:all\s+)?about\b"
    rf"|\bwhat\s+happens\s+in\s+{NAMED_MEDIA}\s*\??\s*$"
    r"|\b(?:what\s+are|list|give\s+me|tell\s+me)\s+the\s+(?:main|key)\s+(?:points|topics|takeaways|moments)\b",
    re.I,
)


def asks_overview(question: str) -> bool:
    """Whether `question` asks what a whole video holds (see the module docstring)."""
    return _OVERVIEW.search(question) is not None


def parts(start_s: float, end_s: float, n: int) -> list[tuple[float, float]]:
    """[start_s, end_s] cut into `n` equal parts, fewer where they would be shorter than MIN_PART_S."""
    n = max(1, min(n, int((end_s - start_s) // MIN_PART_S)))
    step = (end_s - start_s) / n
    return [(start_s + i * step, start_s + (i + 1) * step if i < n - 1 else end_s) for i in range(n)]


def overview_of(found: Sequence[Candidate], moments: int) -> list[Candidate]:
    """For "what is this video about?": from each of the `moments` (spread over the video), what tells most
    (the candidate with the most content words, a whole spoken sentence before a piece of one; where nothing was
    said or shown there but a short line on screen all along, a channel's logo or a clock, the frames' tags),
    each text once, in time order."""
    picked: list[Candidate] = []
    said: set[str] = set()
    spans: dict[str, tuple[float, float]] = {}  # each stream's seconds the moments cover
    for c in found:
        lo, hi = spans.get(c.clip.stream_id, (c.start_s, c.end_s))
        spans[c.clip.stream_id] = (min(lo, c.start_s), max(hi, c.end_s))

    def standing(c: Candidate) -> bool:  # a logo or a clock, on screen all along: it tells no part of the video
        if c.at is None or len(c.text.split()) > STANDING_WORDS:
            return False
        lo, hi = spans[c.clip.stream_id]
        return c.at.end_s - c.at.start_s >= STANDING_SHARE * (hi - lo)

    for rank in range(moments):
        mine = [c for c in found if c.moment_rank == rank and c.text.lower() not in said]
        told = [c for c in mine if c.kind != "frames" and not standing(c)]  # what was said or shown there
        told = told or [c for c in mine if c.kind == "frames"] or mine  # else what the pictures show
        if told:
            best = max(told, key=lambda c: (not c.partial, len(content_words(c.text)), c.kind == "speech"))
            said.add(best.text.lower())
            picked.append(best)
    return sorted(picked, key=lambda c: (c.clip.stream_id, c.start_s))

