"""The argument checks every ClipStore backend makes, so the same misuse raises the same StoreError."""

from __future__ import annotations

import math

import numpy as np

from streammm.errors import StoreError
from streammm.records import VECTOR_NAMES, Clip


def check_dim(dim: int) -> None:
    if dim < 1:
        raise StoreError(f"the vector dimension must be positive, got {dim}")


def check_target(target: str) -> None:
    if target not in VECTOR_NAMES:
        raise StoreError(f"unknown vector target {target!r}; expected one of {', '.join(VECTOR_NAMES)}")


def checked_vector(vector: object, dim: int, what: str) -> np.ndarray:
    """`vector` as a flat float32 array; StoreError naming `what` unless it is finite, non-zero and `dim`-d."""
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    if arr.shape != (dim,) or not np.all(np.isfinite(arr)) or not np.any(arr):
        raise StoreError(f"{what} must be a finite, non-zero {dim}-d vector, got shape {np.shape(vector)}")
    return arr


def checked_clip_vectors(clip: Clip, dim: int) -> dict[str, np.ndarray]:
    """The clip's named vectors, checked: known names only, each finite, non-zero and `dim`-d."""
    unknown = set(clip.vectors) - set(VECTOR_NAMES)
    if unknown:
        raise StoreError(f"clip {clip.clip_id}: unknown vector names {sorted(unknown)}")
    return {name: checked_vector(v, dim, f"clip {clip.clip_id}: vector {name!r}") for name, v in clip.vectors.items()}


def finite_bound(value: float) -> float:
    """A filter's time bound as a float; StoreError when it is not a finite number."""
    number = float(value)
    if not math.isfinite(number):
        raise StoreError(f"filter bounds must be finite numbers, got {value!r}")
    return number


def checked_frame_vectors(clip: Clip, dim: int) -> np.ndarray | None:
    """The clip's frame vectors as an (n, dim) float32 array (None when it has none); StoreError unless
    there is one finite `dim`-d row per frame time."""
    if clip.frame_vectors is None or len(clip.frame_vectors) == 0:
        return None
    matrix = np.asarray(clip.frame_vectors, dtype=np.float32)
    if matrix.shape != (len(clip.frame_times), dim) or not np.all(np.isfinite(matrix)):
        raise StoreError(
            f"clip {clip.clip_id}: frame vectors must be {len(clip.frame_times)} finite {dim}-d rows "
            f"(one per frame time), got shape {matrix.shape}"
        )
    return matrix
