"""Values a question names exactly: a quoted text, a time or a timecode as a screen writes it, a numbered thing
("chapter two", "slide 7"). A moment that neither shows nor says such a value does not answer the question,
however close its meaning: "the title says chapter two" is not answered by "chapter one", nor "the timecode
reads 00:00:20:00" by "00:00:07:00", nor "the terminal prints 'command not found'" by a directory listing.

A time or a numbered thing counts only where the moments found write such values at all: a video that shows no
chapter numbers cannot tell chapter two from chapter one, and says nothing by not showing "chapter 2". Pure
functions of the question and the moments' words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from streammm.qa.counters import counter_index
from streammm.qa.moments import Moment
from streammm.qa.terms import COUNTED, MISREAD_MIN, QUOTE, one_edit_apart, same_word, tokens

BY_COUNTER = frozenset({"slide", "page", "step"})  # things a bare counter ("3/5") numbers
MISSED_EVERY = 3  # a quote's word in three may be missing from a moment (speech recognition and OCR drop a few)
_TIME = re.compile(r"(?<![\w:.])(\d{1,2}(?:[:;]\d{2}){1,3})(?![\w:;]|\.\d)")  # "18:39", "00:00:20:00", "1:02:03"
_SHOWN_TIME = re.compile(r"(?<![\w:.])(\d{1,2}(?:[:.;]\s?\d{2}){1,3})(?![\w:]|\.\d)")  # as read: "18.39", "18: 39"


@dataclass(frozen=True)
class Value:
    """A value asked for: `kind` is "quote", "time" or "numbered"; `words` its tokens() (a time: its fields,
    as digits without leading zeros; a numbered thing: the thing and its number)."""

    kind: str
    words: tuple[str, ...]


def asked_values(question: str) -> tuple[Value, ...]:
    """The values `question` names exactly: each quoted text, each time written with colons, and each counted
    thing followed by its number ("chapter two", "step 3"; terms.COUNTED)."""
    found = [Value("quote", words) for quoted in QUOTE.findall(question) if (words := tokens(quoted))]
    unquoted = QUOTE.sub(" ", question)
    found += [Value("time", _fields(t)) for t in _TIME.findall(unquoted)]
    words = tokens(_TIME.sub(" ", unquoted))
    found += [Value("numbered", (thing, number)) for thing, number in zip(words, words[1:]) if thing in COUNTED and _is_number(number)]
    return tuple(dict.fromkeys(found))


def showing(values: Sequence[Value], moments: Sequence[Moment]) -> list[Moment]:
    """Those of `moments` that show or say every value of `values` that can be told apart in them (see the
    module's docstring), in their order."""
    if not values:
        return list(moments)
    texts = [_text(m) for m in moments]
    told = [v for v in values if v.kind == "quote" or any(_writes_kind(v, text) for text in texts)]
    return [m for m, text in zip(moments, texts) if all(_shows(v, text) for v in told)]


@dataclass(frozen=True)
class _Shown:
    """A moment's words (on screen and said), the times written in them (their fields), and the places its
    counters show ("3/5", "slide 3 of 5": 3)."""

    words: tuple[str, ...]
    times: tuple[tuple[str, ...], ...]
    counters: frozenset[int]


def _text(moment: Moment) -> _Shown:
    text = f"{moment.ocr_text}\n{moment.transcript}"
    counters = frozenset(i for line in moment.ocr_text.splitlines() if (i := counter_index(line)) is not None)
    return _Shown(tokens(text), tuple(_fields(t) for t in _SHOWN_TIME.findall(text)), counters)


def _writes_kind(value: Value, shown: _Shown) -> bool:
    """Whether a moment's text writes values of `value`'s kind at all: a time; the thing with a number, or for a
    slide, a page or a step, a counter."""
    if value.kind == "time":
        return bool(shown.times)
    thing, words = value.words[0], shown.words
    return any(same_word(thing, w) and _is_number(n) for w, n in zip(words, words[1:])) or (thing in BY_COUNTER and bool(shown.counters))


def _shows(value: Value, shown: _Shown) -> bool:
    words, times = shown.words, shown.times
    if value.kind == "time":
        # A timecode's frames go by faster than frames are read: "00:00:03:12" is shown by "00:00:03:xx".
        asked = value.words[:3]
        return any(shown[: len(asked)] == asked and len(shown) == len(value.words) for shown in times)
    if value.kind == "numbered":
        thing, number = value.words
        if thing in BY_COUNTER and int(_number(number) or 0) in shown.counters:
            return True  # "slide 3" shown by its counter, "3/5"
        return any(same_word(thing, w) and _number(n) == _number(number) for w, n in zip(words, words[1:]))
    found = sum(any(_same(asked, w) for w in words) for asked in value.words)
    return found >= len(value.words) - len(value.words) // MISSED_EVERY


def _same(asked: str, word: str) -> bool:
    return same_word(asked, word) or (len(asked) >= MISREAD_MIN and one_edit_apart(asked, word))


def _is_number(word: str) -> bool:
    return _number(word) is not None


def _number(word: str) -> str | None:
    """A token's number in digits: tokens() writes number words as digits, but for "one"."""
    return "1" if word == "one" else word if word.isdecimal() else None


def _fields(time: str) -> tuple[str, ...]:
    """A written time's fields, without leading zeros: "00:00:07:00" is ("0", "0", "7", "0")."""
    return tuple(str(int(field)) for field in re.findall(r"\d+", time))
