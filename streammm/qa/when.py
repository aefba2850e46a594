"""The media time a question names: "what is on screen at 1:30?", "what is said between 0:10 and 0:20?",
"what happens in the first minute?".

A question that names a time is answered from that time: its search is limited to the range (a point
names the seconds around it), and what it finds there answers it however weakly the rest of its words
match. Only a time introduced as one is taken ("at 1:30", "from 10 s to 20 s", "after 2 minutes", "30
seconds in"): a time the question asks to find ("when does the clock read 10:45?", "the timecode reads
00:00:07:00") is words to search for, and a time of day ("at 4:30 pm") is not media time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AROUND_S = 2.0  # a point in time names the seconds this far either side of it (a clip's half-width)
LONGEST_S = 10 * 365 * 86_400.0  # a longer time is no media time (and "1 followed by 400 zeros seconds" is infinite)

_CLOCK = r"(?<![\d:.])(?:\d{1,2}:)?\d{1,3}:\d{2}(?:\.\d+)?(?!\d|:\d)"
_NUM = r"\d+(?:\.\d+)?"
_HOURS = rf"{_NUM}\s*(?:h|hrs?|hours?)(?![A-Za-z])"
_MINUTES = rf"{_NUM}\s*(?:m|mins?|minutes?)(?![A-Za-z])"
_SECONDS = rf"{_NUM}\s*(?:s|secs?|seconds?)(?![A-Za-z])"
_UNITS = rf"(?<![\d.])(?:{_HOURS}(?:\s*(?:and\s+)?{_MINUTES})?(?:\s*(?:and\s+)?{_SECONDS})?|{_MINUTES}(?:\s*(?:and\s+)?{_SECONDS})?|{_SECONDS})"
_TIME = rf"(?:{_CLOCK}|{_UNITS})(?!\s*(?:am|pm|a\.m\.|p\.m\.)(?!\w))"
_MARK = r"(?:\s+mark)?"

_RANGE = re.compile(rf"\b(?:between|from)\s+(?:the\s+)?(?P<a>{_TIME})\s*(?:and|to|until|till|through|-|–)\s*(?:the\s+)?(?P<b>{_TIME}){_MARK}", re.I)
_SPAN = re.compile(rf"(?P<a>{_CLOCK})\s*(?:-|–|to)\s*(?P<b>{_CLOCK})", re.I)
_FIRST = re.compile(rf"\b(?:in\s+|during\s+|within\s+)?the\s+first\s+(?:(?P<n>{_NUM})\s+)?(?P<unit>seconds?|minutes?|hours?)\b", re.I)
_AFTER = re.compile(rf"\b(?:after|past|since)\s+(?:the\s+)?(?P<t>{_TIME}){_MARK}", re.I)
_BEFORE = re.compile(rf"\b(?:before|until|till|by)\s+(?:the\s+)?(?P<t>{_TIME}){_MARK}", re.I)
_POINT = re.compile(rf"(?:\b(?:at|around|near|about|approximately|roughly)\s+(?:the\s+)?|@\s*)(?P<t>{_TIME}){_MARK}|(?P<u>{_TIME})\s+in(?:to\s+(?:the\s+)?(?:video|stream|clip|recording))?\b"
    r"|\b(?:at\s+|in\s+)?(?:the\s+)?minute\s+(?P<minute>\d+)\b", re.I)

_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0}


@dataclass(frozen=True)
class NamedTime:
    """A media time range a question names (None: open on that side)."""

    start_s: float | None
    end_s: float | None


def seconds(text: str) -> float:
    """`1:30` → 90, `1:02:03.5` → 3723.5, `2 minutes and 10 seconds` → 130, `1h5m` → 3900."""
    text = text.strip().lower()
    if ":" in text:
        total = 0.0
        for part in text.split(":"):
            total = total * 60 + float(part)
        return total
    total = 0.0
    for value, unit in re.findall(rf"({_NUM})\s*([hms])", text):
        total += float(value) * _UNIT_S[unit]
    return total


def named_time(question: str) -> NamedTime | None:
    """The media time range `question` names, or None (see the module docstring)."""
    named = _named(question)
    if named is None or any(t is not None and not 0 <= t <= LONGEST_S for t in (named.start_s, named.end_s)):
        return None
    return named


def _named(question: str) -> NamedTime | None:
    found = _RANGE.search(question) or _SPAN.search(question)
    if found:
        a, b = sorted((seconds(found["a"]), seconds(found["b"])))
        return NamedTime(a, b)
    found = _FIRST.search(question)
    if found:
        unit = found["unit"].lower()[0]
        return NamedTime(0.0, float(found["n"] or 1) * _UNIT_S[unit])
    found = _AFTER.search(question)
    if found:
        return NamedTime(seconds(found["t"]), None)
    found = _BEFORE.search(question)
    if found:
        return NamedTime(None, seconds(found["t"]))
    found = _POINT.search(question)
    if found:
        t = float(found["minute"]) * 60 if found["minute"] else seconds(found["t"] or found["u"])
        return NamedTime(max(0.0, t - AROUND_S), t + AROUND_S)
    return None
