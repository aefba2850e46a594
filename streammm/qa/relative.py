"""Questions about what happens just after, before or while something happens: "what is listed after ls /usr
is typed?", "what is said before the dialog appears?", "what is said while the fruit is shown?", "what is on
screen when he says ask not?".

The something (the event) is searched for first; its best moment says when it happened, and the question is
then answered from the RELATIVE_S seconds after it (or before it), or from the event's own seconds, in that
stream, as a question that names a time is (qa/when.py). After words said is after they end; after something
shown, from when it came (a line stays on screen while what follows it comes); after something typed, after the
typing (its moment ends when the screen next changes: what came of it); after a part of the video ("the solar
slide", "the opening scene"), after it ends. A time ("after 2
minutes", "before 0:30") is not an event: when.named_time reads it.

"While", "during" and "when" ask what else was there at the time only in a question ("what ...", "who ...",
"which ...", "how many ..."): "the narrator says selfish when the squirrel is shown" describes one moment,
which its words find better than the squirrel does. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from streammm.qa.moments import Moment
from streammm.qa.terms import Terms, tokens
from streammm.qa.when import MEDIA_WORDS, PART, named_time

EVENT_SHARE = 0.5  # a sentence or line with more than this share of the event's words tells the event itself
RELATIVE_S = 10.0  # the seconds after (or before) an event that a question about them is answered from
_SOON = r"(?:(?:right|just|shortly|immediately)\s+)?"
_REL = r"(?P<rel>after|before|while|whilst|during|when)"
_RELATIVE = re.compile(rf"[\s,]+{_SOON}{_REL}\s+", re.I)
_LEADING = re.compile(rf"^\s*{_SOON}{_REL}\s+(?P<event>[^,]*\w[^,]*),(?=.*\w)", re.I | re.S)  # "After X, what ...?"
_QUESTION = re.compile(r"^\s*(?:what|who|whom|whose|which|how\s+many|how\s+much)\b", re.I)  # asks what else was there
_DURING = frozenset(("while", "whilst", "during", "when"))
_A_PART = re.compile(rf"\b{PART}\s*$", re.I)  # the event names a part: "the solar slide", "the first scene"
_SAID = frozenset("say says said saying mention mentions mentioned speak speaks spoke talk talks asks asked".split())
_SHOWN = frozenset("show shows shown showing appear appears appeared displayed display reads typed written pops".split())
_NOT_AN_EVENT = re.compile(
    r"^(?:that|this|it|all|then|now|a\s+while|a\s+bit|some\s+time|long|the\s+(?:end|start|beginning)"
    rf"|(?:the|this|that)\s+(?:whole\s+|entire\s+)?{MEDIA_WORDS})\b",
    re.I,
)  # "after that", "during the video": no event to search for


@dataclass(frozen=True)
class Relative:
    """A question about the time around an event: `when` ("after", "before" or "during") it, and the event's
    words."""

    when: str
    event: str
    asked: str  # the rest of the question: what it asks about that time ("what is listed")

    @property
    def during(self) -> bool:
        return self.when == "during"

    @cached_property
    def said(self) -> bool | None:
        """True where the event is something said ("he says ask not"), False where something shown ("the
        lower third shows Sheila", "the dialog appears"), None where it does not say."""
        words = set(tokens(self.event))
        if words & _SAID:
            return True
        if words & _SHOWN:
            return False
        return None

    @cached_property
    def part(self) -> bool:
        """Whether the event is a part of the video that ends when the next begins ("the solar slide", "the
        opening scene"): after it is after it ends, not after it came."""
        return bool(_A_PART.search(self.event))

    @cached_property
    def typed(self) -> bool:
        """Whether the event is something typed ("ls /usr is typed"): its moment is the typing, and after it is
        after the typing is over (qa/typed.py)."""
        return self.event_terms.asks_what_was_typed

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
    relation = found["rel"].lower()
    if relation in _DURING:
        if not _QUESTION.search(asked):
            return None  # a description of one moment, not a question about what else was there then
        relation = "during"
    return Relative(relation, event, asked.strip())


def window(relative: Relative, event: Moment) -> tuple[float, float]:
    """The media seconds a question about the time around `event` (its best moment) is answered from."""
    if relative.during:
        return event.start_s, event.end_s
    if relative.when == "before":
        return max(0.0, event.start_s - RELATIVE_S), event.start_s
    start = event.end_s if event.evidence == "speech" or relative.part or relative.typed else event.start_s
    return start, start + RELATIVE_S


def tells_the_event(relative: Relative, text: str, said: bool | None = None) -> bool:
    """Whether `text` (a sentence or a line of the answer's evidence; `said`: a sentence said, else shown,
    None: unknown) is the event itself, not what came after or before it: it has most of the event's
    words, and is of the event's kind where the event says ("the lower third shows Sheila" is not a sentence
    that names her)."""
    if said is not None and relative.said is not None and said != relative.said:
        return False
    terms = relative.event_terms
    matched = {terms.match(t) for t in tokens(text)}
    return terms.coverage(t for t in matched if t is not None) > EVENT_SHARE
