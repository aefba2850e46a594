"""Text vectors with a memory: the server's retrieval and its answerer share one, so an ask encodes its
question once, and popular questions and moments are not encoded again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from streammm.models.base import TextEncoder


class TextVectors:
    """A TextEncoder that remembers the vectors of the `size` texts used most recently."""

    def __init__(self, encoder: TextEncoder, size: int = 20_000) -> None:
        self.encoder = encoder
        self.dim = encoder.dim
        self.size = size
        self._known: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            known = {t: self._known[t] for t in texts if t in self._known}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, self.encoder.encode(missing)))
        with self._lock:
            for text in dict.fromkeys(texts):
                self._known[text] = known[text]
                self._known.move_to_end(text)
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return np.stack([known[t] for t in texts])


def remembering(encoder: TextEncoder, size: int = 20_000) -> TextVectors:
    """`encoder` with a memory (itself when it already has one)."""
    return encoder if isinstance(encoder, TextVectors) else TextVectors(encoder, size)
