"""Questions that ask for a list: "list all the slides", "what are all the settings shown?", "name the cards
read". Such a question is answered with every piece of evidence like the best one (its kind, and the
question's words where it has them: qa/extractive.listed_like) that answers it about as well (up to LISTED), in
the order it came, not with the best three; its search asks for LIST_K moments. Counting
questions ("how many times", "every time") are qa/counting.py. Pure functions; no I/O.
"""

from __future__ import annotations

import re

LIST_K = 10  # moments a question that asks for a list asks the search for
LISTED = 10  # pieces of evidence a list answer says at most
_LIST = re.compile(
    r"^\s*(?:please\s+|can\s+you\s+|could\s+you\s+)?(?:list|enumerate|name)\s+(?:me\s+)?(?:all\s+|each\s+|every\s+)?(?:of\s+)?(?:the\s+)?(?=\w)"
    r"|\b(?:what|which)\s+(?:are|were)\s+all\s+(?:of\s+)?the\b"
    r"|\b(?:show|give|tell)\s+me\s+all\s+(?:of\s+)?the\b",
    re.I,
)


def asks_list(question: str) -> bool:
    """Whether `question` asks for a list of what answers it ("list all the slides"), not for the best answer."""
    return bool(_LIST.search(question))


def listed_text(question: str) -> str:
    """What `question` asks to list: its words less those that ask for a list ("list all the slides": "slides")."""
    return _LIST.sub(" ", question)
