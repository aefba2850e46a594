"""When something on screen was clicked: "when does the user click Apply?", "the 'Mirror displays' check box is
ticked". A button's or a check box's label is on screen long before and after it is clicked, so the seconds it
is shown say nothing about when; the OCR stage keeps each time its row darkened or lit up for a moment while its
text stayed, as the step that did it (OcrLine.pressed, stages/line_presses.py), and those are the moments of
such a question. So they are of a question that is only a pressed line's words ("Mirror displays", "the Apply
button"): what happened to that label is that it was pressed. Pure functions of the question, the fitted moments
and the retrieved clips.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from streammm.qa.fitting import MIN_MATCH, relevance
from streammm.qa.moments import PRESS_EVIDENCE, Moment, covering
from streammm.qa.ocr_fit import LINE_RATIO, distinct_lines, line_match
from streammm.qa.terms import Terms, tokens
from streammm.records import Clip, ScoredClip

CLICK = re.compile(
    r"\b(?:click(?:s|ed|ing)?|press(?:es|ed|ing)?(?!\s+(?:conference|release|briefing|secretary))|push(?:es|ed|ing)?|tap(?:s|ped|ping)?|tick(?:s|ed|ing)?|untick(?:s|ed|ing)?|"
    r"toggl(?:e|es|ed|ing)|select(?:s|ed|ing)?|check(?:s|ed|ing)?(?=\s+(?:the\s+|a\s+)?[\w'\"“”‘’ -]{0,40}?\b(?:box|button|option)))\b",
    re.I,
)

ARTICLES = frozenset({"the", "an"})  # words a label named alone may have besides its own ("the Apply button")

CONTROL = re.compile(r"\b(?:check[\s-]?box(?:es)?|box(?:es)?|buttons?|options?|links?|icons?|tabs?|menu\s+items?|switch(?:es)?)\b", re.I)


def asks_click(question: str) -> bool:
    """Whether `question` asks about a click: clicked, pressed, tapped, ticked, toggled, selected, "checks the
    ... box"."""
    return bool(CLICK.search(question))


def any_pressed(found: Sequence[ScoredClip]) -> bool:
    """Whether a line of the retrieved clips was pressed (most videos have none)."""
    return any(line.pressed for item in found for line in item.clip.ocr_lines)


def is_label(question: str, line: str) -> bool:
    """Whether `question` is `line`'s words, all of them and no others but an article and a control's kind ("the
    Apply button" of "Apply", "Button 17" of a button so labelled; not "when is Apply shown?", nor "displays" of
    "Mirror displays")."""
    asked, shown = (set(tokens(CONTROL.sub(" ", text))) - ARTICLES for text in (question, line))
    return bool(asked) and asked == shown


def pressed_moments(
    question: str, vector: np.ndarray | None, moments: Sequence[Moment], found: Sequence[ScoredClip], *, named_alone: bool = False
) -> list[Moment]:
    """The moments of a click question: a moment for each time a line it names (the lines of the retrieved clips,
    `found`, that match its words about as well as the best, at least MIN_MATCH) was pressed, best first, then
    `moments` (what else answers it: a caption that tells the step, "check the Mirror displays box", 25-29 s,
    around the tick at 27.87 s). A press's relevance is the calibrated one (fitting.relevance) of the clip it
    is in, with its line's match. `moments` as they were where no line it names was pressed: a label there all
    along says nothing about when it was clicked, but neither does anything else. `named_alone`: the question does
    not ask about a click; it names only a line that is its words (is_label)."""
    terms = Terms.of(CONTROL.sub(" ", CLICK.sub(" ", question)))  # what was clicked, not that it was
    clips_of: dict[str, list[Clip]] = {}
    for item in found:
        clips_of.setdefault(item.clip.stream_id, []).append(item.clip)
    lines = [(stream, line) for stream, clips in clips_of.items() for line in distinct_lines(clips)]
    if named_alone:
        named = [(line_match(terms, line), stream, line) for stream, line in lines if line.pressed and is_label(question, line.text)]
    else:
        scored = [(line_match(terms, line), stream, line) for stream, line in lines]
        best = max((score for score, _, _ in scored), default=0.0)  # the line it names best, pressed or not
        # "when is Detect Displays clicked?": not "Mirror displays", pressed, where it never was
        named = [(score, stream, line) for score, stream, line in scored if line.pressed and score >= max(MIN_MATCH, LINE_RATIO * best)]
    pressed: list[Moment] = []
    for score, stream, line in named:
        for start_s, end_s in line.pressed:
            first = covering(clips_of[stream], start_s, end_s)
            rel = relevance(vector, first, score)
            pressed.append(Moment(stream, start_s, end_s, rel, (first,), relevance=rel, evidence=PRESS_EVIDENCE, evidence_text=line.text.strip()))
    pressed.sort(key=lambda m: (-m.relevance, m.start_s))
    return pressed + list(moments)
