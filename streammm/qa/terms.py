"""A query's words and how a word in the evidence matches one: tokens, stopwords, cue words and stems.

Shared by moment fitting (qa/fitting.py) and the extractive answerer (qa/extractive.py). Pure functions.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import snowballstemmer

from streammm.qa.placement import Place, asked_place

TOKEN = re.compile(r"([^\W_]+)(\.\.\.|…)?")  # a word, and the ellipsis that cut it short, if any
CUT = "…"  # ends a word of on-screen text cut short ("display-2monitors.pag..."): see shown_tokens
SPELLED = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}
SENTENCE_END = re.compile(r"[.?!]['\"”’)]*$")  # a word that ends its sentence: "said." "Why?" "now!”"

# Number words read as their digits: speech recognition writes "4 queen" or "four", people ask either way.
# Not "one" ("the one who...", "no one"): it would name a number the query does not mean (Terms.numbers).
_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
_CARDINALS = {word: str(n) for n, word in enumerate(_NUMBERS.split()) if word != "one"} | {
    word: str(10 * n) for n, word in enumerate(_TENS.split(), start=2)
}
# Ordinals from "third": "the third slide" is the one whose counter reads 3 ("3/5", "slide 3 of 5"). Not "first"
# (an order asked: qa/when.py) nor "second" (a unit of time), except "second" before a thing that is counted
# ("the second slide", "the second step": COUNTED); "3rd" and "2nd" are their digits.
_ORDINALS = "third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
NUMBER_WORDS = _CARDINALS | {word: str(n) for n, word in enumerate(_ORDINALS.split(), start=3)}
COUNTED = frozenset(  # things shown with their number ("slide 3 of 5", "Step 2", "Chapter 4"); not a card (its value)
    "slide page chapter step section part question round level lap episode lesson exercise verse stage phase".split()
)
_ORDINAL_DIGITS = re.compile(r"([1-9]\d?)(?:st|nd|rd|th)")
REVERSED_COST = 0.25  # share of a spoken run's match lost when all its query word pairs come reversed
STOPWORDS = frozenset(
    "a an the is are was were be been do does did what when where who whom which why how that this these those of in on "
    "at to for from by with about into and or but not no it its he she they them his her their i you we me my your our "
    "there here than then so as if any some can could would should will shall may might must has have had until till".split()
)
# Words that say what kind of evidence is wanted, not what it contains ("the narrator says ..."), ...
CUE_WORDS = frozenset(
    "say says said saying tell tells told speak speaks spoke speaker narrator narrates talk talks mention mentions voice "
    "words screen shown shows show display displayed text reads read written writes label title video frame scene "
    "someone something somebody user appears appear appeared seen see mentioned spoken talked talking speaking showed showing "
    # ... or how to get there ("jump to the bit where he says selfish", "find the part with the espresso")
    "jump skip find locate looking part bit moment point section segment clip place "
    # ... or which time, or how many ("when is amiable first said?", "how many times ...")
    "first last earliest latest initially time times often".split()
)
# Words that name what follows as words, not as a description ("the word 'selfish'", "the name Dashwood").
WORD_CUES = frozenset("word words phrase phrases name named term quote quoted".split())
QUOTE = re.compile(r"(?:^|(?<=[^\w'\"“‘]))['\"“‘]([^'\"“”‘’]*)['\"”’](?![\w'])")  # a quoted stretch, not an apostrophe
MISREAD_MIN = 6  # letters a word needs before a one-letter difference on screen is taken for a misreading
SOFT = 0.3  # weight of a query's stopword or cue word: counts inside a run of matches, never alone
# Words that ask what was said, which pictures cannot show. Not "says" ("the sign says STOP"), nor "talks" or
# "speaks" (they can be seen).
SAID_CUES = frozenset("narrator narrators narrates narration narrated mention mentions mentioned explain explains explained".split())
MENTION_CUES = frozenset("mention mentions mentioned".split())  # said, or written on a slide
# Words that ask what was typed, or when ("when does he type ls /usr?"); not "a type of", "types of".
_ASKS_TYPED = re.compile(r"\b(?:type[sd]?|typing|enter(?:s|ed)?)\b(?!\s+of\b)", re.I)
_NOT_TYPED = re.compile(r"\b(?:not|nothing|never|no|yet)\b", re.I)  # ... unless they describe none ("nothing typed yet")


@dataclass(frozen=True)
class Terms:
    """A query's words: content words weigh 1, stopwords and cue words SOFT."""

    weights: Mapping[str, float]
    quoted: bool = False  # the query quotes words ("the narrator says 'ill disposed'")
    quotes: tuple[frozenset[str], ...] = ()  # the stems of each quoted phrase's content words
    place: Place | None = None  # the place on screen it asks about ("the caption at the bottom"): qa/placement.py
    _matches: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)  # match()'s answers
    _misread: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)  # match_shown()'s
    shown: dict[tuple[str, ...], float] = field(default_factory=dict, compare=False, repr=False)  # ocr_fit.screen_match's
    names: tuple[frozenset[str], ...] = ()  # the names it writes ("New York", "Boston"): a name's words count only together
    asks_what_was_typed: bool = False  # it asks what was typed, or when (asks_typing)

    @classmethod
    def of(cls, text: str) -> Terms:
        """The words of `text`, less those that name a place on screen ("at the bottom": the place, not words
        to find)."""
        asked = asked_place(text)
        weights: dict[str, float] = {}
        previous = ""
        for token in tokens(asked.rest if asked else text):
            # The word after "how" is what is asked, not what to find: "how long", "how many", "how much", "how big".
            asks = previous == "how" and token not in weights
            weights[token] = SOFT if token in STOPWORDS or token in CUE_WORDS or asks else 1.0
            previous = token
        phrases = [m.group(1) for m in QUOTE.finditer(text)]
        quoted = any(any(c.isalnum() for c in phrase) for phrase in phrases)
        quotes = tuple(q for q in (frozenset(stem(t) for t in tokens(phrase) if t not in STOPWORDS) for phrase in phrases) if q)
        return cls(
            weights, quoted=quoted, quotes=quotes, place=asked.place if asked else None, names=_names(asked.rest if asked else text, weights),
            asks_what_was_typed=asks_typing(text),
        )

    @cached_property
    def numbers(self) -> frozenset[int]:
        """The numbers the query names ("slide 3 of 5": 3 and 5; "00:00:07" : 0 and 7)."""
        return frozenset(int(token) for token in self.weights if token.isdecimal())

    def contradicted_by(self, text: str) -> bool:
        """Whether `text` names a number the query does not, where the query names numbers ("slide 4 of 5" for
        "slide 5 of 5", "in 30 seconds" for "in 29 seconds"). Zero names nothing: a clock's or a timecode's
        empty fields ("00:00:11:00" for "eleven seconds")."""
        wanted = self.numbers
        return bool(wanted) and any(token.isdecimal() and int(token) not in wanted and int(token) != 0 for token in tokens(text))

    @cached_property
    def _stems(self) -> dict[str, str]:
        """Each stem of the query's words, and its first word with it (same_word in one look-up)."""
        stems: dict[str, str] = {}
        for term in self.weights:
            stems.setdefault(stem(term), term)
        return stems

    @cached_property
    def content_words(self) -> tuple[str, ...]:
        """The query's content words (not stopwords or cue words), in the query's order."""
        return tuple(t for t, w in self.weights.items() if w >= 1.0)

    @property
    def asks_what_was_said(self) -> bool:
        return any(token in SAID_CUES for token in self.weights)

    @property
    def asks_what_was_spoken(self) -> bool:
        """Whether what was said can only have been spoken ("does the narrator mention a dog?"); a mention alone
        may be on a slide too ("is recycling mentioned?")."""
        return any(token in SAID_CUES and token not in MENTION_CUES for token in self.weights)

    @cached_property
    def asks_for_words(self) -> bool:
        """Whether the query asks for particular words said or shown: it quotes them, or names them as words
        ("the word 'selfish'", "when is the name Dashwood said?")."""
        return self.quoted or any(token in WORD_CUES for token in self.weights)

    def has_a_quote(self, text: str) -> bool:
        """Whether `text` has every content word of a phrase the query quotes (by stem): what the asker knows
        was said or shown ("a single 'Mirror Displays' box instead of two monitors")."""
        if not self.quotes:
            return False
        stems = {stem(t) for t in tokens(text)}
        return any(quote <= stems for quote in self.quotes)

    @cached_property
    def content(self) -> float:
        return sum(w for w in self.weights.values() if w >= 1.0)

    def match(self, token: str) -> str | None:
        """The query term `token` stands for (the same word, or one with the same stem; for a word cut short
        on screen, one it begins), if any."""
        if token in self.weights:
            return token
        if token not in self._matches:  # a query is matched against the same words clip after clip
            if token.endswith(CUT):
                start = token[: -len(CUT)]
                found = next((term for term in self.weights if term.startswith(start) or same_word(term, start)), None)
            else:
                found = self._stems.get(stem(token))
            self._matches[token] = found
        return self._matches[token]

    def match_shown(self, token: str) -> str | None:
        """match() for a word read on screen, which OCR may have misread by a letter ("Configiration"): a query
        word of at least MISREAD_MIN letters one edit away is that word."""
        found = self.match(token)
        if found is not None or len(token) < MISREAD_MIN:
            return found
        if token not in self._misread:
            self._misread[token] = next((t for t in self.weights if len(t) >= MISREAD_MIN and one_edit_apart(t, token)), None)
        return self._misread[token]

    def coverage(self, matched: Iterable[str]) -> float:
        """The share of the query's content words among `matched` terms (0 when it has none). A word of a name
        of several words counts only with the rest of it: "New" of "New Jersey" is no part of "New York"."""
        total = self.content
        found = set(matched)
        for name in self.names:
            if len(name) > 1 and not name <= found:
                found -= name
        return sum(self.weights[t] for t in found if self.weights[t] >= 1.0) / total if total else 0.0

    def reversed_share(self, matched: Sequence[tuple[str, int]]) -> float:
        """Of the query's content words that follow one another in the query (stopwords aside), with both in
        `matched` ((term, clause) in the order they were said), the share that came in the other order and
        in different clauses: "clubs, seven of hearts" for "seven of clubs" is two things said, not the one
        asked; "call me a Yankee down here" for "down there call her a Yankee" is one, in other words.
        0 when no such pair is there."""
        content = self.content_words
        first: dict[str, tuple[int, int]] = {}
        for i, (term, clause) in enumerate(matched):
            first.setdefault(term, (i, clause))
        pairs = [(first[a], first[b]) for a, b in zip(content, content[1:], strict=False) if a in first and b in first]
        return sum(1 for a, b in pairs if a[0] > b[0] and a[1] != b[1]) / len(pairs) if pairs else 0.0


_NAME = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")  # capitalised words, not a sentence's first


def _names(text: str, weights: Mapping[str, float]) -> tuple[frozenset[str], ...]:
    """The names the query writes, each its content words ("does anyone mention New York?": {"new", "york"};
    "Boston"; "the Keep This Configuration button"); a sentence's first word is not taken for a name's."""
    written = re.findall(r"[^\W\d_][\w'-]*", text)
    if sum(w[0].isupper() for w in written) * 2 > len(written):
        return ()  # written in capitals or in title case: a capital says nothing of a name
    names = []
    for found in _NAME.finditer(text.strip()):
        words = frozenset(t for t in tokens(found.group(0)) if weights.get(t, 0.0) >= 1.0)
        if words:
            names.append(words)
    return tuple(names)


_DIGITS_WORDS = {digits: word for word, digits in _CARDINALS.items()}  # "3" is "three" (not "third")
_SIZE = re.compile(r"(\d+)[x×](\d+)")  # a size written as one word: "1920x1080"
_SIZE_WORD = re.compile(rf"(?<![\w.]){_SIZE.pattern}(?![\w.])")  # one standing alone in a text
_ALONE_NUMBER = re.compile(r"(?<![\w:./-])([1-9]\d?)(?![\w:./-])")


def asks_typing(text: str) -> bool:
    """Whether `text` asks what was typed, or when ("what command is typed?", "when does the user type
    displays?"), not of a type of thing, nor of nothing typed ("before anything is typed")."""
    return bool(_ASKS_TYPED.search(text)) and not _NOT_TYPED.search(text)


def with_number_forms(text: str) -> str:
    """`text` followed by the other form of each number it names ("eleven" → "11", "4" → "four"), for a
    full-text search: speech recognition and on-screen text write numbers either way, and BM25 matches
    words as written ("the timecode shows eleven seconds" finds "00:00:11:00"; a digit also with the zero a
    clock or a timecode writes it with: "7 seconds" finds "00:00:07:00")."""
    lower = text.lower()
    words = re.findall(r"[^\W_]+", lower)
    extra = dict.fromkeys(NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS)
    # "the second slide", "the 3rd step": the counter shows "2/5", "Step 3"
    extra.update(dict.fromkeys(n for w, following in zip(words, [*words[1:], ""]) if (n := _ordinal(w, following))))
    # A number standing alone, not a part of a time, a timecode, a version or a path ("00:00:03:12", "2.5").
    alone = _ALONE_NUMBER.findall(lower)
    extra.update(dict.fromkeys(_DIGITS_WORDS[n] for n in alone if n in _DIGITS_WORDS))
    # A digit as clocks and timecodes write it: "7 seconds" finds "00:00:07:00".
    extra.update(dict.fromkeys(f"0{n}" for n in [*extra, *alone] if len(n) == 1 and n.isdigit()))
    # A size written as one word, as screens write it with spaces: "1024x768" finds "1024 x 768".
    extra.update(dict.fromkeys(f"{a} {b}" for a, b in _SIZE_WORD.findall(lower)))
    return f"{text} {' '.join(extra)}" if extra else text


def one_edit_apart(a: str, b: str) -> bool:
    """Whether `b` is `a` with one letter replaced, added, dropped, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i, (x, y) in enumerate(zip(short, long)) if x != y), len(short))
    return short[i:] == long[i + 1 :]


def ends_sentence(word: str) -> bool:
    """Whether a spoken word's punctuation ends its sentence ("Mr." and "Dr." do not: a title before a name)."""
    text = word.strip()
    return bool(SENTENCE_END.search(text)) and text.rstrip(".").lower() not in SPELLED


@lru_cache(maxsize=65536)  # the same words and lines come back in every query's clips
def tokens(text: str) -> tuple[str, ...]:
    """Lower-case words and numbers; single letters (OCR crumbs, "a") are dropped, digits kept; number words
    are digits ("eleven": "11") and a number's leading zeros are dropped ("07": "7")."""
    return tuple(word for word, _ in _words(text))


@lru_cache(maxsize=65536)
def shown_tokens(text: str) -> tuple[str, ...]:
    """tokens() of on-screen text, where a word of three letters or more that an ellipsis cut short (a file
    name or title too long for its place: "display-2monitors.pag...") ends in CUT: Terms.match takes it
    for any query word it begins."""
    return tuple(word + CUT if cut and len(word) >= 3 else word for word, cut in _words(text))


def _ordinal(word: str, following: str) -> str | None:
    """The digits of an ordinal the number words do not cover: "3rd" is "3"; "second" before a thing shown with
    its number ("the second slide": COUNTED) is "2", not "a second" or "the second half"."""
    if word == "second":
        return "2" if following in COUNTED else None
    digits = _ORDINAL_DIGITS.fullmatch(word)
    return digits[1] if digits else None


def _words(text: str) -> list[tuple[str, bool]]:
    out = []
    found = TOKEN.findall(text.lower())
    for i, (raw, ellipsis) in enumerate(found):
        if len(raw) == 1 and not raw.isdigit():
            continue
        raw = _ordinal(raw, found[i + 1][0] if i + 1 < len(found) else "") or raw
        if raw[:1] == "0" and len(raw) > 1 and raw.isdecimal():
            raw = raw.lstrip("0") or "0"  # "07" of a clock or a timecode is 7
        size = _SIZE.fullmatch(raw)
        if size:  # "1024x768" is the "1024 x 768" a settings screen shows
            out += [(size[1], False), (size[2], False)]
            continue
        out.append((SPELLED.get(raw) or NUMBER_WORDS.get(raw, raw), bool(ellipsis)))
    return out


def same_word(a: str, b: str) -> bool:
    """Equal, or the same English stem ("displays"/"display", "typed"/"type", "dragging"/"drag"): the
    stemmer BM25's full-text index uses too. (A rule that took any word plus up to three letters for the
    same word also took "drag" for "dragon"; dropping it changed no dev or larger-set query's moments.)"""
    return a == b or stem(a) == stem(b)


_STEMMER = snowballstemmer.stemmer("english")
_STEMMER_LOCK = threading.Lock()  # a Snowball stemmer keeps its word in itself: one word at a time


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball English stem of a lower-case word."""
    with _STEMMER_LOCK:
        return _STEMMER.stemWord(word)
