"""Audio out of a media file or segment, as 16 kHz mono float32 on the media timeline."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import av
import numpy as np

from streammm.errors import MediaError
from streammm.media.reading import audio_stream, decoded
from streammm.records import AudioChunk

log = logging.getLogger(__name__)
SAMPLE_RATE = 16_000


def load_audio(source: str | Path | bytes, *, offset_s: float = 0.0) -> AudioChunk | None:
    """The first audio stream, resampled; None when there is no audio stream.

    Times are relative to a file's first timestamp, or a segment's zero, plus `offset_s` (a segment's place
    in its stream). Any codec, channel count and rate is mixed down to mono and resampled.
    A stream that breaks off part-way yields what decoded before the break.
    """
    opened = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        container = av.open(opened)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open media for audio: {exc}") from None
    with container:
        stream = audio_stream(container)
        if stream is None:
            return None
        # A file counts from its container's first timestamp; a segment from its own zero (= offset_s).
        origin_s = 0.0 if isinstance(source, bytes) else (container.start_time or 0) / av.time_base
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pieces: list[np.ndarray] = []
        first_s: float | None = None
        try:
            for frame in decoded(container, stream, name="a segment's audio" if isinstance(source, bytes) else str(source)):
                if first_s is None and frame.time is not None:
                    first_s = frame.time
                pieces.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("audio decoding stopped early: %s", exc)
        try:
            pieces.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
        except (av.error.FFmpegError, ValueError):
            pass
    samples = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, dtype=np.float32)
    # May be slightly negative: a segment can open with the codec's priming packet, before its cut.
    start_s = offset_s + ((first_s if first_s is not None else origin_s) - origin_s)
    return AudioChunk(start_s=round(start_s, 4), samples=samples, sample_rate=SAMPLE_RATE)
