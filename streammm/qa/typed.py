"""Text typed on screen: a line that grew in place ("eriberto@canopus:~$" became "... ls /", then "... ls
/usr"), what was typed into it, and when the typing began and ended.

Pure functions of OCR lines; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from streammm.records import OcrLine

SAME_ROW = 0.03  # fraction of the frame's height
TYPING_STATE_S = 1.0  # a line shown this long before more was typed into it was there before typing began
PROMPT_ENDS = "$>#:%»›"  # how a prompt ends: text typed after it is what was typed
TYPED_SEEN_S = 1.0  # how long a line typed is seen complete, at most, before its typing is over


def typed_into(line: OcrLine, lines: Sequence[OcrLine], shown_with: Sequence[OcrLine] | None = None) -> tuple[str, float] | None:
    """(what was typed, when typing began) when `line` is the last state of text growing in place:
    earlier lines of `lines` on the same row are prefixes of it and none extends it further; nor was every
    word added on its row already (among `shown_with`, default `lines`: a menu bar read in pieces)."""
    def extends(longer: OcrLine, shorter: OcrLine) -> bool:
        return (
            longer.text != shorter.text
            and longer.text.startswith(shorter.text)
            and len(shorter.text.strip()) >= 2
            and shorter.start_s < longer.start_s
            and (min(longer.y, shorter.y) < 0 or abs(longer.y - shorter.y) <= SAME_ROW)
        )

    if any(extends(other, line) for other in lines):
        return None
    prefixes = sorted((other for other in lines if extends(line, other)), key=lambda other: len(other.text))
    if not prefixes:
        return None
    added = line.text[len(prefixes[0].text):].strip()
    if not added or _already_shown(added, line, lines if shown_with is None else shown_with, prefixes[0].start_s):
        return None
    # What was there before typing began is a prompt ("user@host:~$", ">>>", "Search:") or stood on screen; a
    # state of the typing did neither (it is typed too: "dis" for 0.3 s, then "displays", in an empty field).
    standing = next((p for p in prefixes if p.end_s - p.start_s >= TYPING_STATE_S or p.text.rstrip()[-1:] in PROMPT_ENDS), None)
    typed = line.text[len(standing.text):].strip() if standing is not None else line.text.strip()
    states = [p for p in prefixes if standing is None or len(p.text) > len(standing.text)]
    return typed, min([p.start_s for p in states] + [line.start_s])


def typing_span(line: OcrLine, lines: Sequence[OcrLine]) -> tuple[float, float] | None:
    """When `line` was typed (None where it was not: typed_into): from when the typing began until the screen
    next changed once the line was complete (the command ran, the results came: any line of `lines` came or
    went), at most TYPED_SEEN_S after, and not after the line went."""
    typed = typed_into(line, lines)
    if typed is None:
        return None
    done = line.start_s
    changes = [t for o in lines if o is not line for t in (o.start_s, o.end_s) if t > done]
    return typed[1], min([line.end_s, done + TYPED_SEEN_S, *changes])


def _already_shown(added: str, line: OcrLine, lines: Sequence[OcrLine], since_s: float) -> bool:
    """Whether every word `added` to `line` was on its row while it grew (from `since_s`): a menu bar
    that OCR read in pieces and then whole, not text being typed."""
    same_row = [
        o for o in lines
        if o is not line and o.end_s > since_s and o.start_s < line.start_s and (min(o.y, line.y) < 0 or abs(o.y - line.y) <= SAME_ROW)
    ]
    earlier = {word for o in same_row if not line.text.startswith(o.text) for word in o.text.split()}
    return all(word in earlier for word in added.split())
