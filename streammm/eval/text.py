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


def normalize_characters(text: str) -> str:
    """Unicode NFC, every run of whitespace (line breaks included) as one space, ends trimmed.

    Case, punctuation and accents are kept: they count as errors.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) after `normalize_words` on both sides."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def character_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(character edits, reference characters) after `normalize_characters` on both sides."""
    ref, hyp = normalize_characters(reference), normalize_characters(hypothesis)
    return edit_distance(list(ref), list(hyp)), len(ref)


def error_rate(errors: int, reference_length: int) -> float:
    """Edits per reference unit; against an empty reference, 0.0 for an empty hypothesis, else 1.0."""
    if not reference_length:
        return float(errors > 0)
    return errors / reference_length


def word_error_rate(reference: str, hypothesis: str) -> float:
    return error_rate(*word_errors(reference, hypothesis))


def character_error_rate(reference: str, hypothesis: str) -> float:
    return error_rate(*character_errors(reference, hypothesis))
