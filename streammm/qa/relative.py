"""Questions about what happens just after or before something: "what is listed after ls /usr is typed?",
"what happens after the settings window is closed?", "what is said before the dialog appears?".

The something (the event) is searched for first; its best moment says when it happened, and the question is
then answered from the RELATIVE_S seconds after it (or before it) in that stream, as a question that names a
time is (qa/when.py). After words said is after they end; after something shown, from when it came (a line
typed stays on screen while what follows it comes). A time ("after 2 minutes", "before 0:30") is not an
event: when.named_time reads it. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from streammm.qa.moments import Moment
from streammm.qa.terms import Terms, tokens
from streammm.qa.when import named_time

EVENT_SHARE = 0.5  # a sentence or line with more than this share of the event's words tells the event itself
RELATIVE_S = 10.0  # the seconds after (or before) an event that a question about them is answered from
_RELATIVE = re.compile(r"[\s,]+(?:(?:right|just|shortly|immediately)\s+)?(?P<rel>after|before)\s+", re.I)
_LEADING = re.compile(r"^\s*(?:(?:right|just|shortly|immediately)\s+)?(?P<rel>after|before)\s+(?P<event>[^,]*\w[^,]*),(?=.*\w)", re.I | re.S)  # "After X, what ...?"
_NOT_AN_EVENT = re.compile(r"^(?:that|this|it|all|then|now|a\s+while|a\s+bit|some\s+time|long|the\s+(?:end|start|beginning))\b", re.I)


@dataclass(frozen=True)
class Relative:
    """A question about the time around an event: `after` it (else before it), and the event's words."""

    after: bool
    event: str
    asked: str  # the rest of the question: what it asks about that time ("what is listed")

    @cached_property
    def event_terms(self) -> Terms:
        return Terms.of(self.event)


def relative_event(question: str) -> Relative | None:
    """The event whose after (or before) `question` asks about, if any (see the module docstring)."""
    if named_time(question) is not None:
        return None
    leading = _LEADING.search(question)
    found = leading or _RELATIVE.search(question)
    if found is None or (not leading and not any(c.isalnum() for c in question[: found.start()])):
        return None
    event = (leading["event"] if leading else question[found.end() :]).strip().rstrip("?.! ")
    if _NOT_AN_EVENT.search(event) or not Terms.of(event).content_words:
        return None  # "after that", "before it", "after all": nothing to search for
    asked = question[leading.end() :] if leading else question[: found.start()]
    return Relative(found["rel"].lower().endswith("after"), event, asked.strip())


def window(relative: Relative, event: Moment) -> tuple[float, float]:
    """The media seconds a question about the time around `event` (its best moment) is answered from."""
    if not relative.after:
        return max(0.0, event.start_s - RELATIVE_S), event.start_s
    start = event.end_s if event.evidence == "speech" else event.start_s
    return start, start + RELATIVE_S


def tells_the_event(relative: Relative, text: str) -> bool:
    """Whether `text` (a sentence or a line of the answer's evidence) is the event itself, not what came
    after or before it: it has most of the event's words."""
    terms = relative.event_terms
    said = {terms.match(t) for t in tokens(text)}
    return terms.coverage(t for t in said if t is not None) > EVENT_SHARE
