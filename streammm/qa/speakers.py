"""Who said it: the name a video shows while something is said ("who says they heard a beep?").

There is no speaker recognition here, but news, interviews and talks name whoever speaks in the lower third
("DIANE New Jersey", "Dr. Ana Ruiz, CERN") while they speak. A question that asks who is answered with what
was said or subtitled, and the name caption shown in the lower third over most of it. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from streammm.qa.placement import LOWER_THIRD
from streammm.records import OcrLine

# "who says ...?", "at the end, what is said and who says it?", "tell me who spoke": not "a fellow who means well"
_WHO = re.compile(
    r"^\s*(?:(?:and|but|so|then)\s+)?(?:who|whom|whose|who's)\b|(?:[,;:]|\band|\btell\s+me|\bknow)\s+(?:who|whom|whose)\b"
    r"|^\s*which\s+(?:person|speaker|caller|guest|presenter|reporter)\b",
    re.I,
)
NAME_WORDS = (2, 6)  # a name caption is short, a name and a place or a title; a word alone may be a brand in the picture
MOSTLY = 0.5  # share of what was said's seconds the caption must be on screen for


def asks_who(question: str) -> bool:
    """Whether `question` asks who (said, did or is something), not a description with "who" in it."""
    return bool(_WHO.search(question))


def named_while(start_s: float, end_s: float, lines: Iterable[OcrLine], said: str = "") -> OcrLine | None:
    """The name caption shown in the lower third over most of [start_s, end_s], the longest shown then; None
    where none is. A caption is short (two to six words: "YAMAHA" on a motorcycle is no name) and begins with a
    capital; a sentence (a subtitle) or the text said itself is not one."""
    length = max(end_s - start_s, 1e-6)
    best: tuple[float, OcrLine] | None = None
    for line in lines:
        shown = min(line.end_s, end_s) - max(line.start_s, start_s)
        if shown < MOSTLY * length or not _captions_a_name(line) or line.text.strip() == said.strip():
            continue
        if best is None or shown > best[0]:
            best = (shown, line)
    return best[1] if best is not None else None


def _captions_a_name(line: OcrLine) -> bool:
    words = line.text.split()
    return (
        LOWER_THIRD[0] <= line.y <= LOWER_THIRD[1]
        and NAME_WORDS[0] <= len(words) <= NAME_WORDS[1]
        and words[0][:1].isupper()
        and not line.text.rstrip().endswith((".", "?", "!"))  # a sentence: a subtitle, not a caption
    )
