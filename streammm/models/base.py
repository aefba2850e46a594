"""The Protocols every model adapter implements, and the small records they return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from streammm.records import AudioChunk, Word


@dataclass(frozen=True)
class TextBox:
    """One line of text found in an image; `box` is (x0, y0, x1, y1) in pixels."""

    text: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class VisualBatch:
    """Unit vectors in the joint space (n x dim) and the visual tags of each image."""

    vectors: np.ndarray
    tags: list[tuple[str, ...]]


class Transcriber(Protocol):
    def transcribe(self, audio: AudioChunk) -> list[Word]:
        """Words spoken in `audio`, stamped in media time."""
        ...

    def speech_regions(self, audio: AudioChunk) -> list[tuple[float, float]]:
        """Media-time spans that hold speech (voice activity detection)."""
        ...


class OcrEngine(Protocol):
    def read(self, image: np.ndarray) -> list[TextBox]:
        """Lines of text in an RGB image."""
        ...


class TextEncoder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit rows in the joint space."""
        ...


class ImageEncoder(Protocol):
    dim: int

    def encode(self, images: Sequence[np.ndarray]) -> VisualBatch:
        """Vectors in the joint space and tags for RGB images (H x W x 3, uint8)."""
        ...


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
