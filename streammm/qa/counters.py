"""Counters on screen: a slide, page or step counter ("slide 4 of 5", "4/5", "Page 3") says which one is shown
and, where it says "of 5", how many there are; a timecode, a clock or a countdown is a line whose states differ
only by their numbers.

A question that names one by its number ("what animal is on the second slide?") is answered from the moments
whose counter shows that one (on_the_counted), and with the state of a line that names its numbers
(the_state_asked: "the timecode reads 00:00:07:00" is not also answered with "00:00:02:00"); one that asks how
many there are ("how many slides are there?") by the highest total a counter shows (counted_total). Pure
functions; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from streammm.qa.candidates import Candidate
from streammm.qa.terms import COUNTED, tokens

_DIGITS = re.compile(r"\d+")
_HOW_MANY = re.compile(rf"\bhow\s+many\s+(?P<thing>{'|'.join(sorted(COUNTED))})s\b", re.I)


def counter_numbers(text: str) -> tuple[int, ...]:
    """The numbers of a counter line ("slide 4 of 5": 4, 5; "Page 3": 3): a line of numbers and the names of
    counted things (COUNTED) alone, the first not 0; () for any other line ("Costs fell 90% since 2010", a
    timecode "00:00:05:00")."""
    words = tokens(text)
    numbers = tuple(int(w) for w in words if w.isdecimal())
    if not numbers or numbers[0] == 0 or any(not (w.isdecimal() or w in COUNTED or w == "of") for w in words):
        return ()
    return numbers


def counter_index(text: str) -> int | None:
    """The place a counter line shows ("slide 4 of 5", "4/5", "Page 3": 4, 4, 3); None for another line."""
    numbers = counter_numbers(text)
    return numbers[0] if numbers else None


def counter_total(text: str) -> int | None:
    """How many a counter line says there are ("slide 4 of 5", "4/5": 5); None where it does not say ("Page 3"),
    or says fewer than its place."""
    numbers = counter_numbers(text)
    return numbers[1] if len(numbers) == 2 and numbers[0] <= numbers[1] else None


def on_the_counted(found: list[Candidate], wanted: frozenset[int]) -> list[Candidate]:
    """Where the question names a slide, a page or a step by its number (`wanted`: "what animal is on the second
    slide?"), the candidates of moments whose counter shows another one ("slide 4 of 5") are another slide's:
    left out, where a moment's counter shows the one asked for (or none does)."""
    if not wanted:
        return found
    shows = [(c.moment_rank, counter_index(c.text)) for c in found if c.kind == "screen"]
    other = {rank for rank, index in shows if index is not None and index not in wanted}
    other -= {rank for rank, index in shows if index in wanted}
    return [c for c in found if c.moment_rank not in other] or found


def the_state_asked(found: list[Candidate], question: str) -> list[Candidate]:
    """Of lines shown that are alike but for their numbers (a timecode's, a countdown's, a counter's states: the
    same text with the digits taken out), the ones whose numbers are those the question names (other than 0, in
    order; "eleven" is 11), where one of them is: "on-screen timecode reads 00:00:07:00" had also been answered
    with "00:00:00:00" and "00:00:02:00", "slide 1 of 5" with "slide 5 of 5". Other candidates stay."""
    asked = _numbers(question)
    if not asked:
        return found
    states: dict[str, list[Candidate]] = {}
    for c in found:
        if c.kind == "screen" and _DIGITS.search(c.text):
            states.setdefault(_DIGITS.sub("#", c.text.lower()).strip(), []).append(c)
    others: set[int] = set()
    for alike in states.values():
        named = [c for c in alike if _numbers(c.text) == asked]
        if named and len(alike) > len(named):
            others |= {id(c) for c in alike if c not in named}
    return [c for c in found if id(c) not in others]


def _numbers(text: str) -> tuple[int, ...]:
    """The numbers a question or a line names other than 0 (a timecode's empty fields), in order, as tokens
    reads them ("eleven" is 11, "07" is 7)."""
    return tuple(n for t in tokens(text) if t.isdecimal() and (n := int(t)) != 0)


def asks_how_many_counted(question: str) -> bool:
    """Whether `question` asks how many slides, pages, steps ... there are ("how many slides are there?")."""
    return bool(_HOW_MANY.search(question))


def counted_total(found: Sequence[Candidate]) -> Candidate | None:
    """The counter line that says how many there are, where the lines shown say it as a counter does: two
    places of the same total ("2/5", "4/5"), or the last place ("5/5"; a date "12/25" shown once is neither).
    Of those, the highest total, the line nearest its end; else None."""
    by_total: dict[int, list[Candidate]] = {}
    for c in found:
        total = counter_total(c.text) if c.kind == "screen" else None
        if total is not None:
            by_total.setdefault(total, []).append(c)
    counted = [
        (total, max(lines, key=lambda c: counter_index(c.text) or 0)) for total, lines in by_total.items()
        if len({counter_index(c.text) for c in lines}) >= 2 or any(counter_index(c.text) == total for c in lines)
    ]
    return max(counted, key=lambda pair: pair[0], default=(0, None))[1]
