"""Timed Text Markup Language subtitle files (W3C TTML; DFXP, EBU-TT-D, SMPTE-TT and IMSC are profiles of
it), read as timed cues.

FFmpeg writes TTML but cannot read it, so the XML is read here with the standard library. Each `<p>` of the
body with words is a cue over its active interval: `begin`, `end` and `dur` on it and on its ancestors
(`<body>`, `<div>`), each counted from its parent's begin (TTML's parallel time containers; in a
`timeContainer="seq"` parent, from the previous sibling's end). A `<p>` whose `<span>`s carry their own
times (words revealed one by one) gives a cue per timed span. Times are clock times ("00:00:25.000",
"00:00:25:12" with frames) or offsets ("25s", "1.5m", "250f", "90000t") at the document's
`ttp:frameRate` and `ttp:tickRate`.

A file that is not well-formed XML, declares entities (the way XML bombs grow), is not TTML or is larger
than MAX_TTML_BYTES raises TtmlError; a cue whose times (or whose `<div>`'s or timed `<span>`'s) cannot be
read is skipped and counted. Pure
functions of the file's bytes; no I/O.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

MAX_TTML_BYTES = 32 * 1024 * 1024  # a feature film's subtitles are well under 1 MB
PARAMETER_NS = "http://www.w3.org/ns/ttml#parameter"

_CLOCK = re.compile(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)(?::(\d+)(?:\.(\d+))?)?$")
_OFFSET = re.compile(r"^(\d+(?:\.\d+)?)(h|ms|m|s|f|t)$")
_ENTITY = re.compile(rb"<!ENTITY", re.I)


class TtmlError(ValueError):
    """A file that cannot be read as TTML, and why."""


@dataclass(frozen=True)
class Rates:
    """The document's frame and tick rates (ttp:frameRate x ttp:frameRateMultiplier, ttp:subFrameRate,
    ttp:tickRate; TTML's defaults where it names none)."""

    frame: Fraction = Fraction(30)
    sub_frame: int = 1
    tick: Fraction = Fraction(1)


@dataclass(frozen=True)
class Cues:
    """A TTML file's cues, (start_s, end_s or None where it shows until something else does, text), in
    document order, and how many `<p>`s with words were skipped for times that could not be read."""

    timed: list[tuple[float, float | None, str]]
    skipped: int


def ttml_cues(data: bytes) -> Cues:
    """The cues of a TTML document (module docstring). Raises TtmlError where it is not one."""
    if len(data) > MAX_TTML_BYTES:
        raise TtmlError(f"{len(data):,} bytes: larger than the {MAX_TTML_BYTES:,} a subtitle file may be")
    if _ENTITY.search(data):
        raise TtmlError("it declares XML entities (not read: that is how XML bombs grow)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise TtmlError(f"not well-formed XML ({exc})") from None
    if _local(root.tag) != "tt":
        raise TtmlError(f"its root element is <{_local(root.tag)}>, not TTML's <tt>")
    rates = _rates(root)
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        return Cues([], 0)
    timed: list[tuple[float, float | None, str]] = []
    try:
        begin, end = _interval(body, 0.0, None, rates)
    except ValueError as exc:
        raise TtmlError(f"its body's times cannot be read ({exc})") from None
    skipped = 0
    for element, start_s, end_s, bad in _intervals(body, begin, end, rates):
        text = _text(element)
        if not text:
            continue
        if bad:
            skipped += 1
        elif end_s is None or end_s > start_s:
            timed.append((start_s, end_s, text))
    return Cues(timed, skipped)


def parse_time(value: str, rates: Rates = Rates()) -> float:
    """Seconds of a TTML time expression (clock time or offset time); ValueError where it is not one."""
    value = value.strip()
    clock = _CLOCK.match(value)
    if clock:
        hours, minutes, seconds, frames, sub_frames = clock.groups()
        total = Fraction(int(hours) * 3600 + int(minutes) * 60) + Fraction(seconds)
        if frames is not None:
            total += (Fraction(int(frames)) + Fraction(int(sub_frames or 0), rates.sub_frame)) / rates.frame
        return float(total)
    offset = _OFFSET.match(value)
    if not offset:
        raise ValueError(f"not a TTML time: {value!r}")
    count, metric = Fraction(offset.group(1)), offset.group(2)
    per_second = {"h": Fraction(1, 3600), "m": Fraction(1, 60), "s": Fraction(1), "ms": Fraction(1000), "f": rates.frame, "t": rates.tick}[metric]
    return float(count / per_second)


def _intervals(
    element: ET.Element, parent_begin: float, parent_end: float | None, rates: Rates, depth: int = 0
) -> Iterator[tuple[ET.Element, float, float | None, bool]]:
    """(cue element, start_s, end_s, its times unreadable) for each `<p>` under `element` (or each timed
    `<span>` of one), with the times of its ancestors applied."""
    if depth > 64:
        raise TtmlError("elements nested deeper than 64")
    sequential = element.get("timeContainer") == "seq"
    previous_end: float | None = parent_begin
    for child in element:
        name = _local(child.tag)
        if name not in ("div", "p", "span"):
            continue
        origin = previous_end if sequential and previous_end is not None else parent_begin
        try:
            begin, end = _interval(child, origin, parent_end, rates)
        except ValueError:  # its cues (a div's every <p>) cannot be timed: counted as skipped, not lost unsaid
            for lost in [child] if name != "div" else [e for e in child.iter() if _local(e.tag) == "p"]:
                yield lost, 0.0, None, True
            continue
        previous_end = end
        if name == "div":
            yield from _intervals(child, begin, end, rates, depth + 1)
        elif name == "p":
            timed_spans = [s for s in child.iter() if _local(s.tag) == "span" and _timed(s)]
            if timed_spans:  # words shown one by one: each timed span over its own seconds
                yield from _intervals(child, begin, end, rates, depth + 1)
            else:
                yield child, begin, end, False
        elif _timed(child):  # a timed span of a <p> read span by span
            yield child, begin, end, False
        else:  # an untimed span around timed ones
            yield from _intervals(child, begin, end, rates, depth + 1)


def _interval(element: ET.Element, origin: float, parent_end: float | None, rates: Rates) -> tuple[float, float | None]:
    """An element's active interval: its begin from `origin`; its end at `end` (from `origin`) or after `dur`,
    whichever comes first, else its parent's; never past its parent's end."""
    begin = origin + parse_time(element.get("begin"), rates) if element.get("begin") else origin
    ends = []
    if element.get("end"):
        ends.append(origin + parse_time(element.get("end"), rates))
    if element.get("dur"):
        ends.append(begin + parse_time(element.get("dur"), rates))
    end = min(ends) if ends else parent_end
    if parent_end is not None and end is not None:
        end = min(end, parent_end)
    return begin, end


def _timed(element: ET.Element) -> bool:
    return any(element.get(a) for a in ("begin", "end", "dur"))


def _text(element: ET.Element) -> str:
    """The words of an element and everything in it (a line break is a space), whitespace collapsed."""
    parts: list[str] = []

    def walk(node: ET.Element) -> None:
        if _local(node.tag) == "br":
            parts.append(" ")
        elif node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return " ".join("".join(parts).split())


def _rates(root: ET.Element) -> Rates:
    """The frame and tick rates the document declares; TTML's defaults for what it does not, or declares badly."""
    def param(name: str) -> str | None:
        return root.get(f"{{{PARAMETER_NS}}}{name}")

    try:
        frame = Fraction(int(param("frameRate") or 30))
        multiplier = (param("frameRateMultiplier") or "1 1").split()
        frame *= Fraction(int(multiplier[0]), int(multiplier[1]))
        sub_frame = int(param("subFrameRate") or 1)
        tick = Fraction(int(param("tickRate"))) if param("tickRate") else (frame * sub_frame if param("frameRate") else Fraction(1))
        if frame <= 0 or sub_frame <= 0 or tick <= 0:
            raise ValueError
    except (ValueError, IndexError, ZeroDivisionError):
        return Rates()
    return Rates(frame, sub_frame, tick)


def _local(tag: object) -> str:
    """An element's name without its namespace ("{http://www.w3.org/ns/ttml}p": "p"); "" for a comment."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
