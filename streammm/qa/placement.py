"""Where on screen a question asks about: "the text at the bottom", "the top left corner", "the subtitles".

On-screen lines keep where they were seen (OcrLine.x and .y: the centre of the line, as fractions of the
frame's width and height). A question that names a place on screen is fitted to the lines shown there and
answered with them (the bottommost line for "at the bottom", the one nearest the corner for "in the top left
corner"); the words that name the place are not words to find. Subtitles and captions are where they
usually are, at the bottom, and a title or a heading at the top, as a preference: the lines there come first,
but lines elsewhere still answer.
Pure functions; no I/O.

Only a place said as a place counts: "at the top", "on the left", "the top right corner", "the bottom of the
screen", "the top bar", "the lower third", "the subtitles", "a corner of the frame". "The top player", "turn
left", "the right answer", "in the corner of the room", "at the top of the hour" and "in the middle of the
video" (a time) name none; nor does "the bottom line" where nothing asks what the screen shows ("what is the
speaker's bottom line?"), nor "the top bar" (a title, menu, status or task bar) handled as a thing ("dragging the
top bar over to the other monitor").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from streammm.records import OcrLine

SIDE = 0.4  # a side of the screen: the 40 % of its height (or width) nearest that edge
CORNER = 0.25  # a corner: within this share of both edges
MIDDLE = (0.3, 0.7)
LOWER_THIRD = (0.6, 0.87)  # a name caption's band: above where subtitles run

_SCREEN = r"(?:screen|frame|picture|image|slide|page|display|window|video|shot|view)s?"
_STILL_SCREEN = r"(?:screen|frame|picture|image|slide|page|display|window)s?"  # not "video": its middle is a time
_SIDE_WORDS = r"(?:[\s-]*hand)?(?:\s+(?:corner|side|edge|part|half|area))?"
_AT = r"(?:at|in|on|along|across|near)\s+the\s+(?:very\s+)?"
_PLACE = re.compile(
    rf"\b(?:{_AT})?(?:"
    # "the top left corner", "upper-right", "in the bottom right-hand side"
    rf"(?P<v>top|bottom|upper|lower)[\s-]*(?P<h>left|right){_SIDE_WORDS}"
    # "the top line", "in the bottom banner", "the top bar", "the lower third"
    r"|(?P<third>lower[\s-]+thirds?)"
    r"|(?P<row>top|bottom|upper|lower|uppermost|topmost|bottommost|lowest)\s+"
    r"(?:line|lines|row|text|caption|captions|banner|bar|title|heading|strip|ticker|third|edge)"
    # "the bottom of the screen", "at the left side of the frame", "the top of the slides"
    rf"|(?P<of>top|bottom|left|right)(?:[\s-]*hand)?\s+(?:(?:side|edge|part|half|corner)\s+)?of\s+the\s+{_SCREEN}"
    # "the middle of the screen", "in the centre of the frame"
    rf"|(?:middle|centre|center)\s+of\s+the\s+(?P<mid>{_STILL_SCREEN})"
    # "a corner of the screen" (a corner alone may be a room's or a street's)
    rf"|(?P<corner>corners?)\s+of\s+the\s+{_SCREEN}"
    r")\b"
    # "at the top", "on the left-hand side", "in the top corner": a side alone is a place only after "at the"
    # ("at the top of the hour", "at the bottom of the sea": not of the screen)
    rf"|\b{_AT}(?P<s>top|bottom|left|right)(?!{_SIDE_WORDS}\s+of\b){_SIDE_WORDS}\b"
    r"|\b(?P<bar>title|menu|status|task)[\s-]*bar\b"
    r"|\b(?P<sub>(?:closed[\s-]+)?(?:subtitles?|captions?|subtitled|captioned))\b"
    r"|\b(?P<title>titles?|headings?|headlines?)\b(?![\s-]*bar)",
    re.I,
)
_VERTICAL = {"top": "top", "upper": "top", "uppermost": "top", "topmost": "top", "title": "top", "menu": "top",
             "bottom": "bottom", "lower": "bottom", "bottommost": "bottom", "lowest": "bottom", "status": "bottom", "task": "bottom"}


@dataclass(frozen=True)
class Place:
    """A place on screen: `rows` and `cols` are bands of fractions of the frame's height and width (0: the top
    or left edge). A band that reaches one edge leans to it (nearness())."""

    name: str  # "the bottom", "the top left corner"
    rows: tuple[float, float] = (0.0, 1.0)
    cols: tuple[float, float] = (0.0, 1.0)
    corner: bool = False  # any corner ("in the corner"): near a vertical and a horizontal edge
    soft: bool = False  # only where such text usually is ("the subtitles": at the bottom), not said outright

    def holds(self, x: float, y: float) -> bool:
        """Whether a line centred at (`x`, `y`) is there. A line whose place is unknown (x or y < 0: stores
        made before lines kept it) may be anywhere, so it is."""
        if min(x, y) < 0:
            return True
        if self.corner:
            return min(x, 1 - x) <= CORNER and min(y, 1 - y) <= CORNER
        return self.rows[0] <= y <= self.rows[1] and self.cols[0] <= x <= self.cols[1]

    def nearness(self, x: float, y: float) -> float:
        """0-1: how near (`x`, `y`) is to the edges the place leans to (1: on them; 0.5: position unknown)."""
        if min(x, y) < 0:
            return 0.5
        if self.corner:
            return 1.0 - (min(x, 1 - x) + min(y, 1 - y)) / 2
        gaps = [abs(v - edge) for v, band in ((y, self.rows), (x, self.cols)) if (edge := _edge(band)) is not None]
        return 1.0 - sum(gaps) / len(gaps) if gaps else 1.0


def _edge(band: tuple[float, float]) -> float | None:
    if band[0] == 0.0 and band[1] < 1.0:
        return 0.0
    if band[1] == 1.0 and band[0] > 0.0:
        return 1.0
    return None


@dataclass(frozen=True)
class Asked:
    """A question's place on screen, and the question without the words that named it."""

    place: Place
    rest: str


def asked_place(question: str) -> Asked | None:
    """The place on screen `question` asks about, if it names one (and no two that contradict each other)."""
    vertical: set[str] = set()
    horizontal: set[str] = set()
    corner = middle = third = titled = False
    usual_only = True  # every place said is where such text usually is: "the subtitles", "the captions", "the title"
    spans: list[tuple[int, int]] = []
    for found in _PLACE.finditer(question):
        groups = {k: v.lower() for k, v in found.groupdict().items() if v}
        if _a_thing_not_a_place(question, found):
            continue
        for key in ("v", "row", "bar"):
            if key in groups:
                vertical.add(_VERTICAL[groups[key]])
        for key in ("s", "of"):
            side = groups.get(key)
            if side in ("top", "bottom"):
                vertical.add(side)
            elif side is not None:
                horizontal.add(side)
        if "h" in groups:
            horizontal.add(groups["h"])
        if "sub" in groups:
            vertical.add("bottom")
        corner |= "corner" in groups or "corner" in found.group(0).lower()
        middle |= "mid" in groups
        third |= "third" in groups
        titled |= "title" in groups
        if "title" not in groups:  # "the title" stays a word of the question (a cue word: it weighs little)
            spans.append(found.span())
        usual_only &= "sub" in groups or "title" in groups
    if titled and not (vertical or horizontal or middle or corner or third):
        vertical.add("top")  # a title where titles usually are; where a place is said outright, there
    if third and not vertical and not horizontal and not middle and not corner:
        return Asked(Place("the lower third", rows=LOWER_THIRD), _without(question, spans))
    if not (spans or titled) or len(vertical) > 1 or len(horizontal) > 1 or (middle and (vertical or horizontal)):
        return None
    soft = usual_only and not horizontal and not corner
    if corner and not vertical and not horizontal:
        place = Place("a corner", corner=True)
    elif middle:
        place = Place("the middle", rows=MIDDLE, cols=MIDDLE)
    elif not vertical and not horizontal:
        return None
    else:
        v, h = next(iter(vertical), None), next(iter(horizontal), None)
        rows = (0.0, CORNER if corner else SIDE) if v == "top" else (1 - (CORNER if corner else SIDE), 1.0) if v == "bottom" else (0.0, 1.0)
        cols = (0.0, CORNER if corner else SIDE) if h == "left" else (1 - (CORNER if corner else SIDE), 1.0) if h == "right" else (0.0, 1.0)
        name = "the " + " ".join(w for w in (v, h) if w) + (" corner" if corner else "")
        place = Place(name, rows=rows, cols=cols, soft=soft)
    return Asked(place, _without(question, spans))


_SHOWN_CUES = re.compile(r"\b(?:says?|read|reads|shows?|shown|written|writes|text|screen|frame|slides?|captions?|subtitles?)\b", re.I)
# "the bottom line" (an idiom), "the top bar", "the menu bar" (a thing handled): places only as said below
_THING_OR_PLACE = re.compile(r"(?:bottom\s+line|(?:top|bottom|upper|lower|uppermost|topmost|bottommost|lowest|title|menu|status|task)[\s-]*bar)", re.I)


def _a_thing_not_a_place(question: str, found: re.Match[str]) -> bool:
    """Whether "the bottom line" is the idiom ("what is the speaker's bottom line?", "the bottom line is that...")
    or "the top bar" (a title, menu, status or task bar) a thing handled ("dragging the top bar over to the other
    monitor", "when does she click the menu bar?"): not said as a place ("on the bottom line", "in the top bar"),
    and nothing in the question asks what is on screen ("what does the bottom line say?", "the time shown on the
    top bar")."""
    return bool(_THING_OR_PLACE.fullmatch(found.group(0).strip())) and not _SHOWN_CUES.search(question)


def _without(question: str, spans: list[tuple[int, int]]) -> str:
    rest, last = [], 0
    for start, end in spans:
        rest.append(question[last:start])
        last = end
    rest.append(question[last:])
    return re.sub(r"\s+", " ", " ".join(rest)).strip()


def shown_there(place: Place | None, lines: Sequence[OcrLine]) -> Sequence[OcrLine]:
    """The lines at `place` (`lines` themselves where there is none, or it is only where such text usually
    is: subtitles at the top of some video are still its subtitles)."""
    if place is None or place.soft:
        return lines
    return [line for line in lines if place.holds(line.x, line.y)]
