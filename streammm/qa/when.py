"""The media time a question names: "what is on screen at 1:30?", "what is said between 0:10 and 0:20?",
"what happens in the first minute?", "what is shown at the end?", "what is on screen right now?".

A question that names a time is answered from that time: its search is limited to the range (a point
names the seconds around it), and what it finds there answers it however weakly the rest of its words
match. Only a time introduced as one is taken ("at 1:30", "from 10 s to 20 s", "after 2 minutes", "30
seconds in"): a time the question asks to find ("when does the clock read 10:45?", "the timecode reads
00:00:07:00") is words to search for, and a time of day ("at 4:30 pm") is not media time.

The beginning is the first EDGE_S seconds, and so is the first thing said or shown ("what is the first
thing the narrator says?", whose answer is the earliest there; the last thing, the latest at the end). The
end ("at the end of the video", "in the last 30 seconds", and for a live stream "right now") is counted
back from each stream's own end, which the question cannot know: NamedTime.last_s, resolved per stream by
whoever knows the streams (QueryService). "At the beginning" and "at the end" ask for what is there at the
edge itself, so what is nearest it answers first (NamedTime.edge); "in the last 30 seconds" asks for all
of that stretch. So do the first and the last of the parts a video comes in, asked about ("what is the title
of the first slide?", "what does the last page say?").

The first (last) time something happens is not a time the question names ("when is she last seen?", "what
is the last slide shown?": occurrence): the moments that show it come in time order instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streammm.qa.terms import Terms

AROUND_S = 2.0  # a point in time names the seconds this far either side of it (a clip's half-width)
EDGE_S = 10.0  # "the beginning" and "the end" of a stream: its first and last this many seconds
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
_FIRST = re.compile(rf"\b(?:in\s+|during\s+|within\s+)?the\s+first\s+(?:(?P<n>{_NUM}|few)\s+)?(?P<unit>seconds?|minutes?|hours?|moments)\b", re.I)
_LAST = re.compile(rf"\b(?:in\s+|during\s+|within\s+)?the\s+(?:last|final|closing)\s+(?:(?P<n>{_NUM}|few)\s+)?(?P<unit>seconds?|minutes?|hours?|moments)\b", re.I)
MEDIA_KINDS = (
    "video stream clip recording film movie show broadcast talk episode meeting call presentation lecture feed footage programme "
    "program slideshow interview podcast webinar screencast"
).split()  # what a question calls a media file or stream
MEDIA_WORDS = rf"(?:{'|'.join(MEDIA_KINDS)})"
NAMED_MEDIA = rf"(?:the|this|that|each|every)\s+(?:[\w-]+\s+){{0,3}}?{MEDIA_WORDS}s?\b"  # "the video", "the bikes video"
# "The end" of the media: said alone (the clause ends, or a question word follows) or "of the video"; not
# "the end of the tunnel", "the start line" or "the opening credits", which are words to search for.
_CLAUSE_END = r"(?=\s*(?:[?.!,;:]|$))"  # where a clause ends
_WHOLE = rf"(?:{_CLAUSE_END}|(?=\s+of\s+{NAMED_MEDIA}|\s+(?:and|or|then|when|what|who|which|where|how|is|are|was|were|does|do|did)\b))"
_IT = rf"(?:it|{NAMED_MEDIA})"
_START = re.compile(rf"\b(?:at|in|near|towards?|from|during)\s+the\s+(?:very\s+)?(?:beginning|start|outset|opening)\b{_WHOLE}|\bhow\s+does\s+{_IT}\s+(?:start|begin|open)\b", re.I)
_END = re.compile(rf"\b(?:at|in|near|towards?|by|during)\s+the\s+(?:very\s+)?(?:end|ending|close|finish)\b{_WHOLE}|\bhow\s+does\s+{_IT}\s+(?:end|finish|close)\b"
    rf"|\b(?:right|just)\s+now\b|\bat\s+the\s+moment{_CLAUSE_END}", re.I)
# A part of a media file that comes in order: asked about, the first (last) slide is at its beginning (end):
# "what is the title of the first slide?", "what does the last page say?". In a description ("the first slide")
# it may be words to find.
PART = r"(?:slides?|cards?|pages?|chapters?|scenes?|shots?|sections?)\b"  # the parts a video comes in, in order
_ASKING = r"^\s*(?:what|which|who|where|how|is|are|does|do|did|was|were|can|could|tell|show|read|describe)\b"
_FIRST_PART = re.compile(rf"{_ASKING}.*?\bthe\s+(?:very\s+)?(?:first|opening)\s+{PART}", re.I)
_LAST_PART = re.compile(rf"{_ASKING}.*?\bthe\s+(?:very\s+)?(?:last|final|closing)\s+{PART}", re.I)
_PART_NAMED = re.compile(rf"\b(?:(?:on|in|of|from|at)\s+)?the\s+(?:very\s+)?(?:first|opening|last|final|closing)\s+{PART}", re.I)
_AFTER = re.compile(rf"\b(?:after|past|since)\s+(?:the\s+)?(?P<t>{_TIME}){_MARK}", re.I)
_BEFORE = re.compile(rf"\b(?:before|until|till|by)\s+(?:the\s+)?(?P<t>{_TIME}){_MARK}", re.I)
_POINT = re.compile(rf"(?:\b(?:at|around|near|about|approximately|roughly)\s+(?:the\s+)?|@\s*)(?P<t>{_TIME}){_MARK}|(?P<u>{_TIME})\s+in(?:to\s+(?:the\s+)?(?:video|stream|clip|recording))?\b"
    r"|\b(?:at\s+|in\s+)?(?:the\s+)?minute\s+(?P<minute>\d+)\b", re.I)

_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0}

_SEEN = (
    r"(?:appears?|appeared|mentions?|mentioned|shows?|showed|shown|seen|says?|said|heard|spoken|speaks?|spoke|talks?|talked"
    r"|reads?(?:\s+out)?|displayed|written|typed|played|called(?:\s+out)?"
    r"|comes?\s+up|came\s+up|happens?|happened)"
)
_NOUN = r"(?:[a-z][\w'-]*\s+){1,2}?"  # "the last [slide] shown", "the first [red car] seen"


def _order_asked(word: str, after_the: str, also: str) -> re.Pattern[str]:
    """An order asked of what happens: "the first time", "first seen", "the first slide shown", "shown first"
    (`word` "first"; `after_the`: the words "the ... slide shown" may say it with; `also`: other ways)."""
    return re.compile(
        rf"\b(?:for\s+)?the\s+{word}\s+time\b|\b{word}\s+{_SEEN}\b|\bthe\s+(?:very\s+)?{after_the}\s+{_NOUN}{_SEEN}\b"
        rf"|\b{_SEEN}\s+{word}{_CLAUSE_END}|{also}",
        re.I,
    )


_FIRST_TIME = _order_asked("first", "first", r"\bearliest\b|\binitially\b")
_LAST_TIME = _order_asked("last", "(?:last|final)", r"\bfinal\s+time\b")
# "What is the first thing the narrator says?", "the last words spoken", "the very first line shown"
_THING = rf"(?:thing|things|words?|sentence|phrase|question|subtitles?|captions?)\b(?!\s+of\s+(?!{NAMED_MEDIA}))"  # "of the talk", not "of the title"
_FIRST_THING = re.compile(rf"\bthe\s+(?:very\s+)?first\s+{_THING}", re.I)
_LAST_THING = re.compile(rf"\bthe\s+(?:very\s+)?(?:last|final)\s+{_THING}", re.I)


@dataclass(frozen=True)
class NamedTime:
    """A media time range a question names (None: open on that side)."""

    start_s: float | None
    end_s: float | None
    last_s: float | None = None  # instead of start_s and end_s: each stream's last this many seconds
    at_s: float | None = None  # a point in time ("at 1:30"): the range is the seconds around it
    edge: str | None = None  # "start" or "end": the question asks what is there at the beginning (end) itself


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
    if named is None or any(t is not None and not 0 <= t <= LONGEST_S for t in (named.start_s, named.end_s, named.last_s, named.at_s)):
        return None
    return named


def _named(question: str) -> NamedTime | None:
    found = _RANGE.search(question) or _SPAN.search(question)
    if found:
        a, b = sorted((seconds(found["a"]), seconds(found["b"])))
        return NamedTime(a, b)
    found = _FIRST.search(question)
    if found:
        return NamedTime(0.0, _stretch_s(found))
    found = _LAST.search(question)
    if found:
        return NamedTime(None, None, last_s=_stretch_s(found))
    found = _AFTER.search(question)
    if found:
        return NamedTime(seconds(found["t"]), None)
    found = _BEFORE.search(question)
    if found:
        return NamedTime(None, seconds(found["t"]))
    found = _POINT.search(question)
    if found:
        t = float(found["minute"]) * 60 if found["minute"] else seconds(found["t"] or found["u"])
        return NamedTime(max(0.0, t - AROUND_S), t + AROUND_S, at_s=t)
    if _START.search(question) or _FIRST_PART.search(question):
        return NamedTime(0.0, EDGE_S, edge="start")
    if _FIRST_THING.search(question):
        return NamedTime(0.0, EDGE_S)
    if _END.search(question) or _LAST_PART.search(question):
        return NamedTime(None, None, last_s=EDGE_S, edge="end")
    if _LAST_THING.search(question):
        return NamedTime(None, None, last_s=EDGE_S)
    return None


def without_part(question: str) -> str:
    """`question` less the words that name the first or last part of the video it asks about ("what animal is on
    the first slide?" → "what animal is?"): they say where to look, and the slide counter "slide 1 of 5" shares
    them without being what is asked; `question` itself where it names none, or where no content word of the rest
    says what is asked ("what is on the first slide?", "what does the last page show?": the counter is as good an
    answer as any, and finds the slides)."""
    if not (_FIRST_PART.search(question) or _LAST_PART.search(question)):
        return question
    rest = re.sub(r"\s+", " ", _PART_NAMED.sub(" ", question)).strip()
    return rest if Terms.of(rest).content_words else question


def _stretch_s(found: re.Match[str]) -> float:
    """The seconds "the first 30 seconds", "the last minute", "the final moments" or "the last few
    minutes" name: a number of units; one unit where it is said alone; EDGE_S for moments or seconds
    without a number, three units for a few minutes or hours."""
    unit, n = found["unit"].lower(), (found["n"] or "").lower()
    if unit == "moments" or (unit == "seconds" and n in ("", "few")):
        return EDGE_S
    if n == "few":
        return 3 * _UNIT_S[unit[0]]
    return (float(n) if n else 1.0) * _UNIT_S[unit[0]]


def occurrence(question: str) -> str | None:
    """Which of several moments that answer `question` it asks for: "first" ("when is the harbour first
    mentioned?", "the first time the logo appears"), "last" ("when is she last seen?"), or None (the best)."""
    if _FIRST_TIME.search(question) or _FIRST_THING.search(question):
        return "first"
    if _LAST_TIME.search(question) or _LAST_THING.search(question):
        return "last"
    return None


def first_or_last_thing(question: str) -> str | None:
    """"first" for a question about the first thing said or shown ("what is the first thing the narrator
    says?": the beginning, and the earliest sentence there), "last" for the last ("the last words spoken"),
    else None."""
    if _FIRST_THING.search(question):
        return "first"
    if _LAST_THING.search(question):
        return "last"
    return None
