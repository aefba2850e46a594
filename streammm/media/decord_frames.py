"""Frames decoded by decord (`media.decoder: decord`): the one module that touches decord. media/frames.py
chooses between it and PyAV; both give the same frames at the same times."""

from __future__ import annotations

import importlib.util
import io
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

from streammm.config import MediaConfig
from streammm.errors import MediaError
from streammm.media.frame_grid import even_px, plan_frames
from streammm.media.reading import pixel_aspect, video_stream
from streammm.media.shots import colour_histograms, is_cut
from streammm.records import Frame

log = logging.getLogger(__name__)
BATCH = 16  # frames decoded in one call
_DECORD_IMPORT = threading.Lock()  # worker threads may ask for decord at the same moment


def decord_frames(
    source: str | Path | bytes, options: MediaConfig, *, offset_s: float, max_side_px: int, previous_hist: np.ndarray | None = None
) -> Iterator[Frame]:
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
    for chunk_start in range(0, len(plan), BATCH):
        chunk = plan[chunk_start : chunk_start + BATCH]
        images = _decode(reader, [index for index, _ in chunk], starts)
        for (index, role), image in zip(chunk, images):
            hist = colour_histograms(image) if options.shot_detect_fps > 0 else None
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
    aspect = _pixel_aspect_of(source)
    scale = min(1.0, max_side_px / max(width * aspect, height, 1))
    if scale >= 1.0 and aspect == 1:
        return probe_reader
    if isinstance(src, io.BytesIO):
        src.seek(0)
    return VideoReader(src, ctx=cpu(0), width=even_px(width * aspect * scale), height=even_px(height * scale))


def _pixel_aspect_of(source: str | Path | bytes) -> float:
    """pixel_aspect of the source's video, read with PyAV (decord does not say it); 1 if it cannot tell."""
    import av

    try:
        with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as container:
            stream = video_stream(container)
            return float(pixel_aspect(stream)) if stream is not None else 1.0
    except (av.error.FFmpegError, UnicodeDecodeError):
        return 1.0


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
