"""On-screen text moments: the seconds the lines that answer a query are on screen.

OCR spans carry when each line came and went; a moment is bounded by the lines that best match the query,
read together when they are on screen together (a listing read one entry per line answers as one). A line
there all along (a title, a menu bar) does not say when; nor does one naming a number the query does not
("slide 4 of 5" for "slide 5 of 5") where one naming only the query's is there. Asked when a line was typed,
the moment is its typing (qa/typed.py). Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from streammm.qa.moments import MAX_MOMENT_S, Fit
from streammm.qa.terms import Terms, shown_tokens
from streammm.qa.typed import typing_span
from streammm.records import Clip, OcrLine

LINE_RATIO = 0.75  # lines within this share of the best line's match are evidence too
ALONG = 0.75  # a line on screen for this share of a stretch was there all along


def distinct_lines(clips: Iterable[Clip]) -> list[OcrLine]:
    """The clips' on-screen lines once each: the same text in the same place is one line, on screen from
    its earliest start to its latest end (a clip stored while a line was still showing knows less of it)."""
    merged: list[OcrLine] = []
    by_text: dict[str, list[int]] = {}  # the places in `merged` of each text's lines
    for clip in clips:
        for line in clip.ocr_lines:
            key = line.text.strip().lower()
            if not key:
                continue
            places = by_text.setdefault(key, [])
            for i in places:
                known = merged[i]
                if known.same_place(line) and line.start_s <= known.end_s and line.end_s >= known.start_s:
                    merged[i] = OcrLine(
                        min(known.start_s, line.start_s), max(known.end_s, line.end_s), known.text, known.score, known.x, known.y, known.pressed_with(line)
                    )
                    break
            else:
                places.append(len(merged))
                merged.append(line)
    return merged


def line_match(terms: Terms, line: OcrLine) -> float:
    """How well a line answers: the share of the query's content words it has, discounted when most of the
    line is other words (a menu item that shares one word of a long query matters less)."""
    return screen_match(terms, [line])


def screen_match(terms: Terms, lines: Sequence[OcrLine]) -> float:
    """How well lines on screen together answer: the share of the query's content words they have between
    them, discounted when most of their words are other words (zeros aside). A listing read as one line per entry
    ("bin", "include lib64", "local") answers a query that names several entries as one line would."""
    texts = tuple(line.text for line in lines)
    if texts not in terms.shown:  # the same lines come back in every clip that shows them
        # A clock's or a timecode's empty fields ("00:00:11:00") are neither the query's words nor others.
        words = [w for text in texts for w in shown_tokens(text) if not (w.isdecimal() and int(w) == 0)]
        found = [terms.match_shown(w) for w in words]
        coverage = terms.coverage(t for t in found if t is not None)
        precision = sum(1 for t in found if t is not None) / len(words) if words else 0.0
        terms.shown[texts] = coverage * (0.5 + 0.5 * precision)
    return terms.shown[texts]


def screens(terms: Terms, lines: Sequence[OcrLine]) -> list[tuple[float, list[OcrLine]]]:
    """The matching lines that are on screen together, each time a matching line appears, with how well
    they answer between them (screen_match)."""
    matching = [line for line in lines if line_match(terms, line) > 0]
    found = []
    for t in sorted({line.start_s for line in matching}):
        showing = [line for line in matching if line.start_s <= t < line.end_s or line.start_s == t]
        found.append((screen_match(terms, showing), showing))
    return found


def fit_ocr(
    terms: Terms, lines: Sequence[OcrLine], within: tuple[float, float], around: tuple[float, float] | None = None
) -> Fit | None:
    """The seconds the best-matching lines (read together, see `screens`) are on screen, cut to `within`
    (the retrieved clips around the moment, touching one another). None when nothing matches, or when every
    matching line says nothing about when: it was there before them and stays for most of `around` (the
    moment's own clips; default `within`), or they span more than a moment and it is on screen for most of
    them (a title, a menu, a settings panel's label). A line that came among them says when, however few of
    the moment's own clips saw it come ("a single 'Mirror Displays' box instead of two monitors": the box came
    at 28.1 s, the best clips are at 32-37 s; the panel's label "Mirror displays" is there from 4 s to the end)."""
    scored = screens(terms, lines)
    best = max((s for s, _ in scored), default=0.0)
    if best <= 0:
        return None
    lo, hi = within
    a_lo, a_hi = around or within

    def there_all_along(line: OcrLine) -> bool:
        before = line.start_s < lo and _share(line, a_lo, a_hi) >= ALONG
        return before or (hi - lo > MAX_MOMENT_S and _share(line, lo, hi) >= ALONG)

    shown: list[tuple[float, float, list[OcrLine]]] = []  # when each good screen shows all its lines
    for score, showing in scored:
        # A screen of lines there all along (a title beside a dialog that says the same) says nothing about when.
        if score >= best * LINE_RATIO and not all(there_all_along(line) for line in showing):
            shown.append((max(line.start_s for line in showing), min(line.end_s for line in showing), showing))
    # Where some of them name only the query's numbers, those that name another (the counter's previous
    # slide, the countdown's previous second) are not the ones asked for.
    agreeing = [screen for screen in shown if not any(terms.contradicted_by(line.text) for line in screen[2])]
    shown = agreeing or shown
    if not shown:
        return None
    start = max(lo, min(a for a, _, _ in shown))
    end = min(hi, max(b for _, b, _ in shown))
    if terms.asks_what_was_typed:
        # "When does he type ls /usr?": while it was typed, from the first keys to what came of it, not all the
        # seconds the line stayed on screen after.
        typing = [span for _, _, showing in shown for line in showing if (span := typing_span(line, lines)) is not None]
        if typing:
            start, end = max(lo, min(a for a, _ in typing)), min(hi, max(b for _, b in typing))
    if end <= start:
        return None
    chosen = {id(line): line for _, _, showing in shown for line in showing}.values()
    text = " | ".join(dict.fromkeys(line.text.strip() for line in sorted(chosen, key=lambda line: (line.start_s, line.y, line.x))))
    return Fit("ocr", start, end, text, best)


def _share(line: OcrLine, lo: float, hi: float) -> float:
    """The share of [lo, hi] that `line` is on screen for."""
    return max(0.0, min(line.end_s, hi) - max(line.start_s, lo)) / (hi - lo) if hi > lo else 0.0
