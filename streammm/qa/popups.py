"""What popped up: a dialog, a pop-up, an alert, a tooltip, a notification. On screen it is a group of lines that
came together over a screen that stayed, and went while that screen stayed ("Does the display look OK?", "Keep
This Configuration", "Restore Previous Configuration" over the Displays window; "Drag to change primary display."
over the monitors). No line says "dialog", so a question that names one ("a confirmation dialog appears", "what
does the pop-up say?", "when does a tooltip show?") had been matched by the meaning of its words alone, and found
nothing. Its moments are these groups, from when they came to when they went.

A new window, a new slide or the next scene is not one: what was on screen before it mostly went with it, or it
brought more lines than stayed under it. Pure functions of the question and the clips.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from streammm.qa.candidates import Candidate
from streammm.qa.fitting import relevance
from streammm.qa.moments import LINES_APART, POPUP_EVIDENCE, Moment
from streammm.qa.ocr_fit import distinct_lines
from streammm.qa.terms import Terms, shown_tokens
from streammm.records import Clip, OcrLine, ScoredClip

# Not "prompt" (a shell's prompt is a line like any other), nor "window" (a whole window is no pop-up), nor
# "message" ("the message on the slide"), nor "dialogue" alone (what is said in a film).
POPUP = re.compile(
    r"\b(?:dialogs?|dialogue\s+(?:box|window)(?:es|s)?|pop[\s-]?ups?|pop(?:s|ped|ping)?\s+up|alerts?|modals?|tool[\s-]?tips?|message\s+box(?:es)?|notifications?)\b", re.I
)
BOXED = re.compile(r"\b(?:dialog|dialogue\s+(?:box|window)|message\s+box|modal)", re.I)  # a box of lines: two at least
READ_MOST = 10  # lines a pop-up's answer says at most
TOGETHER_S = 0.25  # lines that came within this of each other came together (a dialog is drawn at once)
SAME_S = 0.05  # seconds within which two times are one (frame times read from different clips)
CHANGED = 0.25  # share of them that may come anew elsewhere while it is up (a clock's next minute)
STAYED = 0.5  # share of the lines on screen when a group came that must still be there when it went
RECENT_S = 3.0  # a line like one that went from its place this little before is that line again, not a pop-up
MIN_S = 0.3  # a pop-up stays at least this long (a timecode's frame field shows a new line every frame)


@dataclass(frozen=True)
class Popup:
    """Lines that came together over a screen that stayed, and went before it: `lines` in the order they came
    (what changed in it while it was up, a countdown's next second, is its own)."""

    start_s: float
    end_s: float
    lines: tuple[OcrLine, ...]

    @property
    def text(self) -> str:
        return LINES_APART.join(dict.fromkeys(line.text.strip() for line in self.lines))  # as ocr_fit writes lines


def asks_popup(question: str) -> bool:
    """Whether `question` names a dialog, a pop-up, an alert, a tooltip or a notification."""
    return bool(POPUP.search(question))


def popups(lines: Sequence[OcrLine]) -> list[Popup]:
    """The groups of `lines` (one stream's, distinct_lines) that came together over a screen that stayed
    (_over_the_screen), in time order. What came with the first line (over nothing) is none, nor is what came
    inside a pop-up while it was up (a countdown's next second: the pop-up's own)."""
    ordered = sorted(lines, key=lambda line: (line.start_s, line.y, line.x))
    found: list[Popup] = []
    for came, group, later in _came_together(ordered):
        if came <= ordered[0].start_s + SAME_S or any(p.start_s < came < p.end_s - SAME_S and all(_within(p, line) for line in group) for p in found):
            continue
        popup = _over_the_screen(came, group, ordered, later)
        if popup is not None:
            found.append(popup)
    return found


def _came_together(ordered: Sequence[OcrLine]) -> Iterator[tuple[float, list[OcrLine], Sequence[OcrLine]]]:
    """Each group of `ordered` lines that came within TOGETHER_S of its first: (when, its lines, the lines after)."""
    i = 0
    while i < len(ordered):
        came, j = ordered[i].start_s, i
        while j < len(ordered) and ordered[j].start_s <= came + TOGETHER_S:
            j += 1
        yield came, list(ordered[i:j]), ordered[j:]
        i = j


def _over_the_screen(came: float, group: list[OcrLine], ordered: Sequence[OcrLine], later: Sequence[OcrLine]) -> Popup | None:
    """`group` (what came at `came`) as a pop-up, where it is one: up for MIN_S at least; nothing went where it
    came (a line read anew where one just went, or where one like it was a little before, is that line: a panel
    showing another monitor's settings, a typed command, OCR reading a label again); more lines were on screen
    when it came than came (a pop-up covers a part of a screen); few others (CHANGED) came elsewhere while it
    was up; and STAYED of those under it are still there when it went. Its lines are the group's and those that
    came where they are while it was up."""
    gone = [line for line in ordered if line.start_s < came - SAME_S and abs(line.end_s - came) <= TOGETHER_S]
    recent = [line for line in ordered if line.start_s < came - SAME_S and came - RECENT_S <= line.end_s <= came + TOGETHER_S]
    new = [line for line in group if not any(line.same_place(old) for old in gone) and not any(_again(line, old) for old in recent)]
    if not new:
        return None
    popup = Popup(min(line.start_s for line in new), max(line.end_s for line in new), tuple(new))
    under = [line for line in ordered if line.start_s < came - SAME_S and line.end_s > came + SAME_S]
    stayed = [line for line in under if line.end_s > popup.end_s + SAME_S]
    if popup.end_s - came < MIN_S or any(_within(popup, old) for old in gone) or len(under) <= len(new) or len(stayed) < STAYED * len(under):
        return None
    during = [line for line in later if line.start_s < popup.end_s - SAME_S]
    inside = [line for line in during if line.end_s <= popup.end_s + TOGETHER_S and _within(popup, line)]
    if len(during) - len(inside) > CHANGED * len(under):
        return None  # the screen changed under it: a window opening with its label first, not a pop-up over it
    return Popup(popup.start_s, popup.end_s, tuple(new + inside))


def _again(line: OcrLine, old: OcrLine) -> bool:
    """Whether `line` is `old` shown again, or changed: in its place, with a word of it ("Acer Technologies 17"
    read again once a tooltip over it went, "1280 x 1024" where "1024 x 768" was, "aptop" where "Laptop" was)."""
    if not line.same_place(old):
        return False
    new_text, old_text = line.text.strip().lower(), old.text.strip().lower()
    return bool(set(shown_tokens(new_text)) & set(shown_tokens(old_text))) or new_text in old_text or old_text in new_text


def _within(popup: Popup, line: OcrLine, margin: float = 0.1) -> bool:
    """Whether `line` is where `popup`'s lines are (their centres' box, `margin` of the frame around it)."""
    xs, ys = [p.x for p in popup.lines], [p.y for p in popup.lines]
    if min(line.x, line.y, *xs, *ys) < 0:
        return True  # places unknown
    return min(xs) - margin <= line.x <= max(xs) + margin and min(ys) - margin <= line.y <= max(ys) + margin


def popup_moments(question: str, vector: np.ndarray | None, found: Sequence[ScoredClip]) -> list[Moment]:
    """A moment for each pop-up the retrieved clips (`found`) show (of two lines at least, where the question asks
    for a box of them: a dialog, a message box), best first. The words that name the pop-up
    are matched by its being one; the rest of the question by its lines; its relevance is the calibrated one
    (fitting.relevance) of the clip it came in, with that match."""
    rest = Terms.of(POPUP.sub(" ", question))
    least = 2 if BOXED.search(question) else 1
    by_stream: dict[str, list[Clip]] = {}
    for item in found:
        by_stream.setdefault(item.clip.stream_id, []).append(item.clip)
    moments = []
    for stream_id, clips in by_stream.items():
        for popup in popups(distinct_lines(clips)):
            if len({line.text.lower() for line in popup.lines}) < least:
                continue
            shown = [c for c in clips if c.start_s < popup.end_s and c.end_s > popup.start_s]
            matched = {rest.match_shown(w) for line in popup.lines for w in shown_tokens(line.text)} - {None}
            lexical = (1.0 + rest.coverage(matched) * rest.content) / (1.0 + rest.content)
            shown.sort(key=lambda c: (not c.start_s <= popup.start_s < c.end_s, c.start_s))  # the first shows its start
            best = relevance(vector, shown[0], lexical)
            moments.append(Moment(stream_id, popup.start_s, popup.end_s, best, tuple(shown), relevance=best, evidence=POPUP_EVIDENCE, evidence_text=popup.text))
    return sorted(moments, key=lambda m: -m.relevance)


def with_popups(question: str, vector: np.ndarray | None, found: Sequence[ScoredClip], moments: Sequence[Moment]) -> list[Moment]:
    """The moments of a question that names a pop-up: the pop-ups' (popup_moments), each narrowed to the lines
    of it the question's words were fitted to, where they were (_narrowed); `moments` as they were where the
    clips show no pop-up."""
    popped = [_narrowed(p, moments) for p in popup_moments(question, vector, found)]
    return popped or list(moments)


def _narrowed(popup: Moment, moments: Sequence[Moment]) -> Moment:
    """`popup`'s moment, narrowed to the lines of it the question's words were fitted to, where a moment of
    `moments` was fitted to some of its lines and not all ("the confirmation dialog says it will reset in 29
    seconds": the seconds that line is up, not the whole dialog's)."""
    lines = set(popup.evidence_text.split(LINES_APART))
    for m in moments:
        fitted = set(m.evidence_text.split(LINES_APART))
        inside = m.stream_id == popup.stream_id and popup.start_s - SAME_S <= m.start_s and m.end_s <= popup.end_s + SAME_S
        if inside and m.evidence == "ocr" and fitted < lines:
            return replace(popup, start_s=m.start_s, end_s=m.end_s, relevance=max(popup.relevance, m.relevance))
    return popup


def in_popup(stream_id: str, line: OcrLine, moments: Sequence[Moment]) -> bool:
    """Whether `line` (of `stream_id`) came and went within a pop-up's moment of `moments`: one of its lines,
    not one of the screen under it."""
    return any(
        m.evidence == POPUP_EVIDENCE
        and m.stream_id == stream_id
        and m.start_s - SAME_S <= line.start_s
        and line.end_s <= m.end_s + TOGETHER_S
        and line.text.strip() in m.evidence_text.split(LINES_APART)
        for m in moments
    )


def popup_read(best: Candidate, found: Sequence[Candidate], moments: Sequence[Moment]) -> list[Candidate]:
    """"What does the dialog say?": the lines of the pop-up `best` (a line of it) is in, as it came (of lines in
    one place, a countdown's seconds or a line read twice, the first), top to bottom and left to right; at most
    READ_MOST. `best` alone where it is in no pop-up of `moments`."""
    assert best.at is not None
    popup = next((m for m in moments if in_popup(best.clip.stream_id, best.at, [m])), None)
    if popup is None:
        return [best]
    read: list[Candidate] = []
    for c in sorted(found, key=lambda c: c.start_s):
        if c.kind == "screen" and c.at is not None and in_popup(c.clip.stream_id, c.at, [popup]):
            if not any(c.at.same_place(r.at) for r in read if r.at is not None):
                read.append(c)
    return sorted(read, key=lambda c: (round(c.at.y, 2), c.at.x) if c.at is not None else (2.0, 0.0))[:READ_MOST]
