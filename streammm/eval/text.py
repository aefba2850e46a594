"""Text metrics: word error rate and character error rate over normalised text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_SPOKEN = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def normalize_words(text: str) -> list[str]:
    """Lower case, no punctuation, hyphenated words split, common abbreviations spelled out."""
    text = unicodedata.normalize("NFKC", text).lower().replace("-", " ")
    words = re.sub(r"[^\w\s']", " ", text).replace("'", "").split()
    return [_SPOKEN.get(w, w) for w in words]


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def character_error_rate(reference: str, hypothesis: str) -> float:
    """CER over characters with runs of whitespace collapsed to one space."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(list(ref), list(hyp)) / len(ref)
