"""Questions that ask what a whole video holds: "what is this video about?", "summarize the talk", "give me
an overview". The moments nearest their words would be any; they are answered from moments spread over the
video instead, in time order (QueryService), one thing said or shown from each (ExtractiveAnswerer).

Only a request for a summary is taken: "the summary slide" or "an outline is drawn" are words to search for.
"""

from __future__ import annotations

import re

from streammm.qa.when import NAMED_MEDIA

MIN_PART_S = 4.0  # a part of a video an overview takes a moment from is at least this long (a clip)

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
