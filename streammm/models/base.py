"""The Protocols every model adapter implements, and the small records they return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from streammm.records import AudioChunk, Word


Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels


@dataclass(frozen=True)
class TextBox:
    """One line of text found in an image; `box` is (x0, y0, x1, y1) in pixels."""

    text: str
    score: float
    box: Box


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

    def detect(self, image: np.ndarray, frame_size: tuple[int, int] | None = None) -> list[Box]:
        """Boxes of the text lines in an RGB image, without reading them; `image` may be a band cut
        from a frame of `frame_size` (width, height), detected at the scale of the whole frame."""
        ...

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """(text, score) of each RGB crop of one text line, all in one batched call; ("", 0.0) for
        a crop too small to read."""
        ...


def crop_box(image: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of `box` in `image`, clipped to it (empty when the box lies outside)."""
    x0, y0, x1, y1 = box
    height, width = image.shape[:2]
    return image[max(0, int(y0)) : min(height, int(np.ceil(y1))), max(0, int(x0)) : min(width, int(np.ceil(x1)))]


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
