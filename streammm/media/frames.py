"""Frames out of a video: a regular grid in media time (default 1 fps) plus extra keyframes at shot changes."""

from __future__ import annotations

import importlib.util
import io
import logging
import math
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

from streammm.config import MediaConfig
from streammm.errors import MediaError
from streammm.records import Frame

log = logging.getLogger(__name__)
BATCH = 16
_DECORD_IMPORT = threading.Lock()  # worker threads may ask for decord at the same moment


def sample_frames(
    source: str | Path | bytes,
    options: MediaConfig,
    *,
    offset_s: float = 0.0,
    max_side_px: int = 1280,
) -> Iterator[Frame]:
    """Frames in time order; times are `offset_s` + the frame's presentation time in `source`.

    Grid frames sit at multiples of 1/sample_fps on the *stream's* timeline, so the segments of one
    stream sample the same instants as the whole file would. A frame where the picture changes
    sharply from the previous probe (a cut) is added with `shot_change=True`.
    """
    reader = open_video(source, max_side_px=max_side_px)
    if reader is None:
        return
    count = len(reader)
    if count == 0:
        return
    try:
        starts = reader.get_frame_timestamp(range(count))[:, 0].astype(np.float64) + offset_s
    except Exception as exc:  # decord raises plain RuntimeError/DECORDError for broken indexes
        raise MediaError(f"cannot index frames: {exc}") from None
    plan = plan_frames(starts, options)
    previous_hist: np.ndarray | None = None
    for chunk_start in range(0, len(plan), BATCH):
        chunk = plan[chunk_start : chunk_start + BATCH]
        images = _decode(reader, [index for index, _ in chunk], starts)
        for (index, role), image in zip(chunk, images):
            hist = colour_histogram(image) if options.shot_detect_fps > 0 else None
            cut = is_cut(hist, previous_hist, options.shot_threshold)
            previous_hist = hist
            if role == "grid" or cut:
                yield Frame(t_s=round(float(starts[index]), 3), image=image, shot_change=cut)
        if len(images) < len(chunk):
            return


def _decode(reader, indices: list[int], starts: np.ndarray) -> list[np.ndarray]:
    """The frames at `indices`; for a damaged file, those before the first frame that fails to decode."""
    try:
        return list(reader.get_batch(indices).asnumpy())
    except Exception:  # one bad frame fails the whole batch: retry one by one up to the damage
        pass
    images = []
    for index in indices:
        try:
            images.append(reader[index].asnumpy())
        except Exception as exc:
            log.warning("frame decoding stopped at %.2f s: %s", starts[index], str(exc).splitlines()[0][:200])
            break
    return images


def open_video(source: str | Path | bytes, *, max_side_px: int):
    """A decord reader scaled to at most `max_side_px`, or None when the source has no video stream."""
    decord = import_decord()
    VideoReader, cpu = decord.VideoReader, decord.cpu
    src = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        probe_reader = VideoReader(src, ctx=cpu(0))
        height, width = probe_reader[0].shape[:2] if len(probe_reader) else (0, 0)
    except Exception as exc:
        message = str(exc)
        if "video stream" in message.lower() or "cannot find" in message.lower():
            return None
        raise MediaError(f"cannot decode video: {message.splitlines()[0][:200]}") from None
    scale = min(1.0, max_side_px / max(width, height, 1))
    if scale >= 1.0:
        return probe_reader
    if isinstance(src, io.BytesIO):
        src.seek(0)
    return VideoReader(src, ctx=cpu(0), width=_even(width * scale), height=_even(height * scale))


def import_decord() -> ModuleType:
    """Import decord without its CUDA preloading.

    On import, decord2 dlopens every library under site-packages/nvidia with RTLD_GLOBAL. With torch's
    CUDA wheels installed that includes libnvblas, which then takes over the process's BLAS symbols and
    crashes torch's CPU matrix products on machines without a GPU. streammm uses decord's CPU decoder,
    which needs none of those libraries, so the `nvidia` namespace is hidden while decord loads.
    """
    with _DECORD_IMPORT:
        if "decord" in sys.modules:
            return sys.modules["decord"]
        return _import_decord_hiding_nvidia()


def _import_decord_hiding_nvidia() -> ModuleType:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None):  # type: ignore[no-untyped-def]
        return None if name == "nvidia" else real_find_spec(name, package)

    importlib.util.find_spec = find_spec
    try:
        import decord
    finally:
        importlib.util.find_spec = real_find_spec
    decord.logging.set_level(decord.logging.QUIET)  # damaged input is reported once, by us
    return decord


def plan_frames(starts: np.ndarray, options: MediaConfig) -> list[tuple[int, str]]:
    """Which frame indices to decode: ("grid", index) at each sample instant, ("probe", index) for cuts."""
    if len(starts) == 0:
        return []
    first, last = float(starts[0]), float(starts[-1])
    wanted: dict[int, str] = {}
    for t in _instants(first, last, options.sample_fps):
        wanted[_frame_at(starts, t)] = "grid"
    if options.shot_detect_fps > 0:
        for t in _instants(first, last, options.shot_detect_fps):
            wanted.setdefault(_frame_at(starts, t), "probe")
    return sorted(wanted.items())


def _instants(first: float, last: float, rate: float) -> Iterator[float]:
    k = math.ceil(first * rate - 1e-6)
    while k / rate <= last + 1e-6:
        yield k / rate
        k += 1


def _frame_at(starts: np.ndarray, t: float) -> int:
    """Index of the frame on screen at time t (the last one that started at or before t)."""
    return max(0, int(np.searchsorted(starts, t + 1e-4, side="right")) - 1)


def colour_histogram(image: np.ndarray) -> np.ndarray:
    import cv2

    small = cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).reshape(-1)
    return hist / max(float(hist.sum()), 1.0)


def is_cut(hist: np.ndarray | None, previous: np.ndarray | None, threshold: float) -> bool:
    """A cut: half the L1 distance between colour histograms (0 = same, 1 = disjoint) over `threshold`."""
    if hist is None or previous is None:
        return False
    return 0.5 * float(np.abs(hist - previous).sum()) > threshold


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)
