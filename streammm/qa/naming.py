"""Videos a question calls by name: "a man in a suit in the bikes video", "what is shown at 0:05 in the
timecode video?", "the slideshow". The words that call a video limit the search to the streams whose names
have them, and are no evidence of what is asked ("a red motorcycle in the narrated slideshow" asks nothing
of narration). Pure functions of the question's words and stream ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from streammm.qa.terms import STOPWORDS, stem
from streammm.qa.when import MEDIA_KINDS

# What a question calls a video: "the bikes video", "the displays screencast", "the slideshow". Not the words
# that are verbs as often ("the narrator calls", "the clock shows", "he talks").
_KINDS = "|".join(k for k in MEDIA_KINDS if k not in ("show", "call", "talk", "meeting", "feed"))
_CALLED = re.compile(rf"\b(?:the|this|that)\s+(?P<name>(?:[\w-]+\s+){{0,3}}?)(?P<kind>{_KINDS})\b", re.I)
_ANY_MEDIA = frozenset("video stream clip recording film movie footage programme program episode broadcast".split())  # name nothing


def name_words(stream_id: str) -> set[str]:
    """The words of a stream's name a question may call it by: `city-bikes_2` → {"city", "bikes"} (no
    numbers, short words or stop words: "cam-1" is not named by "the last 1 minute")."""
    return {w for w in re.findall(r"[a-z0-9]+", stream_id.lower()) if len(w) > 2 and not w.isdigit() and w not in STOPWORDS}


def called(text: str) -> set[str]:
    """The stems of the words a question calls a video by: "in the bikes video" → {"bike"}, "the display
    settings screencast" → {"display", "set", "screencast"}, "the slideshow" → {"slideshow"}; none for "this
    video"."""
    words: set[str] = set()
    for found in _CALLED.finditer(text):
        words.update(w for w in re.findall(r"[a-z0-9]+", found["name"].lower()) if w not in STOPWORDS)
        if found["kind"].lower() not in _ANY_MEDIA:  # a kind of media that may be a stream's name: "call_slides"
            words.add(found["kind"].lower())
    return {stem(w) for w in words}


def without_names(text: str, stream_ids: Iterable[str]) -> str:
    """`text` less the words that call one of `stream_ids` by name ("a man in the bikes video" → "a man in"),
    which are no evidence of what is asked; `text` itself where it calls none of them by name."""
    return _CALLED.sub(" ", text) if named_in(sorted(stream_ids), called(text)) else text


def named_in(stream_ids: Sequence[str], words: set[str]) -> tuple[str, ...]:
    """The streams of `stream_ids` whose names have `words` (called(): "what is shown at 0:05 in the timecode
    video?" calls `moviepy_timecode_example`), in order; none where none has them."""
    return tuple(s for s in stream_ids if words & {stem(w) for w in name_words(s)})
