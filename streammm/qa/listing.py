"""Questions that ask for a list: "list all the slides", "what are all the settings shown?", "name the cards
read". Such a question is answered with every piece of evidence like the best one (its kind, and the
question's words where it has them: qa/extractive.listed_like) that answers it about as well (up to LISTED), in
the order it came, not with the best three; its search asks for LIST_K moments. Where the question says how
the things listed came (said, shown, typed: listed_kind), the best one is the best of that kind ("the cards
read" are the cards read out, not the title card "Card game night"). Counting questions ("how many times",
"every time") are qa/counting.py. Pure functions; no I/O.
"""

from __future__ import annotations

import re

LIST_K = 10  # moments a question that asks for a list asks the search for
LISTED = 10  # pieces of evidence a list answer says at most
_LIST = re.compile(
    r"^\s*(?:please\s+|can\s+you\s+|could\s+you\s+)?(?:list|enumerate|name)\s+(?:me\s+)?(?:all\s+|each\s+|every\s+)?(?:of\s+)?(?:the\s+)?(?=\w)"
    r"|\b(?:what|which)\s+(?:are|were)\s+all\s+(?:of\s+)?the\b"
    r"|\b(?:show|give|tell)\s+me\s+all\s+(?:of\s+)?the\b"
    # "which cards are read out?", "what settings were changed?": things, plural (the noun stays a word to find)
    r"|^\s*(?:what|which)\s+(?=[a-z]+[^s\W]s\s+(?:are|were)\b)",
    re.I,
)


_KINDS = (
    # "the cards read", "the names read out", "everything that is read": read aloud (a sign "reads" what it shows)
    ("speech", re.compile(r"\b(?:said|spoken|mentioned|called\s+out|read\s+(?:out|aloud)|(?:is|are|was|were|been|being)\s+read)\b|\bread\s*[?.!]?\s*$", re.I)),
    ("typed", re.compile(r"\b(?:typed|entered)\b", re.I)),
    ("screen", re.compile(r"\b(?:shown|displayed|written|on\s+(?:the\s+)?screen)\b", re.I)),
)


def listed_kind(question: str) -> str | None:
    """The kind of evidence a list question says its things came as (speech, typed, screen), if it says one."""
    kinds = [kind for kind, said in _KINDS if said.search(question)]
    return kinds[0] if len(kinds) == 1 else None


def asks_list(question: str) -> bool:
    """Whether `question` asks for a list of what answers it ("list all the slides"), not for the best answer."""
    return bool(_LIST.search(question))


def listed_text(question: str) -> str:
    """What `question` asks to list: its words less those that ask for a list ("list all the slides": "slides")."""
    return _LIST.sub(" ", question)
