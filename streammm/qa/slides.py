"""What a slide, a page or a dialog says: "what are the bullet points on the wind power slide?", "what does the
slide about batteries say?", "what is written on the dialog?". Such a question is answered with every line shown
together with the one that matches it best (the slide's title finds the slide; its bullets are the answer), top
to bottom, not with the best line alone. Pure functions of the question and the candidates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from streammm.qa.candidates import Candidate

READ_MOST = 10  # lines a slide's answer says at most
TOGETHER = 0.5  # share of the best line's seconds another line must be on screen for to be on its slide
STANDING = 3.0  # a line on screen this many times as long as the best (a logo, a clock) is not its slide's

_THING = r"(?:slides?|pages?|screens?|dialog(?:ue)?s?|windows?|pop-?ups?|panels?|menus?|cards?|signs?|boards?|charts?|tables?|lists?)"
_READS = re.compile(
    r"\bbullets?\b|\bbullet\s+points?\b"
    # "what does the slide about batteries say?", "what do the menus list?"
    rf"|\bwhat\s+(?:does|do|did)\s+(?:the|this|that|each)\s+(?:[\w-]+\s+){{0,3}}?{_THING}\b(?:\s+[\w-]+){{0,4}}?\s+(?:say|show|read|list|contain|ask)\b"
    # "what is on the last slide?", "what's written on the dialog?", "what is listed in the menu?"
    rf"|\bwhat(?:'s|\s+is|\s+are)\s+(?:written\s+|shown\s+|listed\s+|displayed\s+)?(?:on|in)\s+(?:the|this|that)\s+(?:[\w-]+\s+){{0,3}}?{_THING}\b",
    re.I,
)


def reads_screen(question: str) -> bool:
    """Whether `question` asks what a slide, a page, a dialog (a screen of lines) says."""
    return bool(_READS.search(question))


def shown_with(best: Candidate, found: Sequence[Candidate]) -> list[Candidate]:
    """`best` (a line shown) and the lines of its stream on screen together with it (for at least TOGETHER of
    its seconds, and not STANDING times as long: a logo or a clock there all along is no part of the slide),
    each text once, top to bottom and left to right; at most READ_MOST."""
    if best.at is None:
        return [best]
    lo, hi = best.at.start_s, best.at.end_s
    length = max(hi - lo, 1e-6)
    together: dict[str, Candidate] = {}
    for c in found:
        if c.kind != "screen" or c.at is None or c.clip.stream_id != best.clip.stream_id:
            continue
        shared = min(c.at.end_s, hi) - max(c.at.start_s, lo)
        if shared >= TOGETHER * length and c.at.end_s - c.at.start_s < STANDING * length:
            together.setdefault(c.text.lower(), c)
    together.setdefault(best.text.lower(), best)
    return sorted(together.values(), key=lambda c: (round(c.at.y, 2), c.at.x) if c.at is not None else (2.0, 0.0))[:READ_MOST]
