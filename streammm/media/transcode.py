"""The slow path of segmenting: decode and re-encode, so any input FFmpeg reads gives ~segment_s segments.

Used where remuxing cannot work: a codec no segment container carries, or video whose keyframes are too far
apart to cut near `segment_s`. Video becomes H.264 (libx264 ultrafast; MJPEG where the frame size is odd or
libx264 is missing) at the source's size, turned upright; audio becomes 16 kHz mono PCM, what the speech
stage reads. Every segment starts on a multiple of `segment_s` with a keyframe.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from streammm.errors import MediaError
from streammm.media.reading import audio_stream, decoded, pixel_aspect, top_field, video_stream
from streammm.records import IngestRun, Segment

log = logging.getLogger(__name__)
CONTAINER = "matroska"
AUDIO_RATE = 16_000
MS = Fraction(1, 1000)


def video_encoder(width: int, height: int) -> str:
    if width % 2 == 0 and height % 2 == 0 and _has_encoder("libx264"):
        return "libx264"
    return "mjpeg"


def _has_encoder(name: str) -> bool:
    try:
        av.Codec(name, "w")
        return True
    except (av.error.FFmpegError, ValueError):
        return False


class _SegmentWriter:
    """One re-encoded segment being written: its own muxer and encoders, so it starts with a keyframe."""

    def __init__(self, start_s: float, has_audio: bool) -> None:
        self.start_s = start_s
        self.buffer = io.BytesIO()
        self.output = av.open(self.buffer, "w", format=CONTAINER)
        self.video: Any = None  # added with the first frame, whose upright size it takes
        self.last_video_ms = -1
        self.audio: Any = None
        self.samples: list[np.ndarray] = []
        self.audio_start_s: float | None = None
        self.has_audio = has_audio

    def _open_video(self, width: int, height: int, aspect: Fraction) -> None:
        codec = video_encoder(width, height)
        options = {"preset": "ultrafast", "crf": "23"} if codec == "libx264" else {"qmin": "2", "qmax": "6"}
        self.video = self.output.add_stream(codec, rate=25, options=options)
        self.video.width, self.video.height = width, height
        if aspect != 1:
            self.video.codec_context.sample_aspect_ratio = aspect
        self.video.pix_fmt = "yuv420p" if codec == "libx264" else "yuvj420p"
        self.video.codec_context.time_base = MS
        self.video.time_base = MS
        if self.has_audio:
            self._open_audio()  # before the first packet: the header is written then

    def _open_audio(self) -> None:
        self.audio = self.output.add_stream("pcm_s16le", rate=AUDIO_RATE)
        self.audio.layout = "mono"

    def add_video(self, frame: av.VideoFrame, t_s: float, aspect: Fraction = Fraction(1)) -> None:
        if self.video is None:
            self._open_video(frame.width, frame.height, aspect)
        pts = int(round((t_s - self.start_s) * 1000))
        if pts <= self.last_video_ms:
            return  # two frames in one millisecond: keep the first
        self.last_video_ms = pts
        out = frame.reformat(width=self.video.width, height=self.video.height, format=self.video.pix_fmt)
        out.pts, out.time_base = pts, MS
        for packet in self.video.encode(out):
            self.output.mux(packet)

    def add_audio(self, samples: np.ndarray, t_s: float) -> None:
        if not self.has_audio or len(samples) == 0:
            return
        if self.audio_start_s is None:
            self.audio_start_s = t_s
        have_s = self.audio_start_s + sum(len(s) for s in self.samples) / AUDIO_RATE
        gap = int(round((t_s - have_s) * AUDIO_RATE))
        if gap > 0:
            self.samples.append(np.zeros(gap, dtype=np.int16))  # a hole in the source's audio stays silent
        elif gap < 0:
            samples = samples[-gap:]
        self.samples.append(samples)

    def finish(self) -> bytes:
        if self.video is not None:
            for packet in self.video.encode(None):
                self.output.mux(packet)
        if self.has_audio and self.samples and self.audio_start_s is not None:
            if self.audio is None:
                self._open_audio()
            pcm = np.concatenate(self.samples).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = AUDIO_RATE
            frame.pts = int(round((self.audio_start_s - self.start_s) * AUDIO_RATE))
            frame.time_base = Fraction(1, AUDIO_RATE)
            for packet in self.audio.encode(frame):
                self.output.mux(packet)
            for packet in self.audio.encode(None):
                self.output.mux(packet)
        self.output.close()
        return self.buffer.getvalue()


def reencoded_segments(path: str | Path, stream_id: str, segment_s: float, *, timeout_s: float | None = None) -> Iterator[Segment]:
    """Decode `path` and write it again as segments of exactly `segment_s` (the last may be shorter)."""
    from streammm.media.segments import open_input
    from streammm.media.urls import mask_url

    name = mask_url(str(path))
    container = open_input(path, timeout_s=timeout_s)
    with container:
        video, audio = video_stream(container), audio_stream(container)
        streams = [s for s in (video, audio) if s is not None]
        if not streams:
            raise MediaError(f"{name}: no audio or video stream")
        if video is not None:
            video.thread_type = "AUTO"
        aspect = pixel_aspect(video) if video is not None else Fraction(1)
        run = IngestRun(has_video=video is not None, has_audio=audio is not None)
        origin_s = (container.start_time or 0) / av.time_base
        duration_s = (container.duration or 0) / av.time_base if timeout_s is None else 0.0  # a live source's is not its end
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE) if audio is not None else None
        writers: dict[int, _SegmentWriter] = {}
        reached = {s.type: -math.inf for s in streams}
        audio_clock: float | None = None
        previous_video_s: float | None = None
        step_s = 1.0 / float(video.average_rate or video.guessed_rate or 25) if video is not None else 0.0
        seq = 0
        codec_names = {"video": "", "audio": "pcm_s16le" if audio is not None else ""}

        def writer(index: int) -> _SegmentWriter:
            if index not in writers:
                writers[index] = _SegmentWriter(index * segment_s, audio is not None)
            return writers[index]

        def ready(final: bool) -> Iterator[Segment]:
            nonlocal seq
            done_s = min(reached.values())
            for index in sorted(writers):
                end_s = (index + 1) * segment_s
                if not final and end_s > done_s:
                    break
                last = final and index == max(writers)
                start_s = index * segment_s
                done = writers.pop(index)
                if done.video is not None:
                    codec_names["video"] = done.video.codec_context.name
                data = done.finish()
                if last:  # ends where the container says the media ends (or where decoding got to)
                    end_s = duration_s if duration_s > start_s else max(start_s, *reached.values())
                yield Segment(
                    stream_id, seq, round(start_s, 4), round(max(0.0, end_s - start_s), 4), CONTAINER, data,
                    last=last, run=run, video_codec=codec_names["video"], audio_codec=codec_names["audio"], reencoded=True,
                )
                seq += 1

        try:
            for frame in decoded(container, *streams, name=name):
                if isinstance(frame, av.VideoFrame):
                    if frame.pts is None:
                        t_s = (previous_video_s + step_s) if previous_video_s is not None else 0.0
                    else:
                        t_s = float(frame.pts * frame.time_base) - origin_s
                    if t_s < -1e-3 or (previous_video_s is not None and t_s <= previous_video_s):
                        continue  # hidden by an edit list, or a repeated timestamp
                    previous_video_s = t_s
                    upright, upright_aspect = _upright(frame, aspect)
                    writer(int(math.floor(t_s / segment_s + 1e-9))).add_video(upright, t_s, upright_aspect)
                    reached["video"] = t_s
                else:
                    assert resampler is not None
                    t_s = float(frame.pts * frame.time_base) - origin_s if frame.pts is not None else (audio_clock or 0.0)
                    if audio_clock is None or abs(t_s - audio_clock) > 0.2:
                        audio_clock = t_s  # the first frame, or a jump in the source's audio clock
                    for out in resampler.resample(frame):
                        audio_clock = _place_audio(writer, out.to_ndarray().reshape(-1), audio_clock, segment_s)
                    reached["audio"] = audio_clock
                yield from ready(final=False)
        except av.error.FFmpegError as exc:
            if timeout_s is not None:  # a live source: its caller reconnects
                raise MediaError(f"{name}: reading stopped ({str(exc).splitlines()[0][:200]})") from None
            log.warning("%s: decoding for re-encoding stopped early: %s", name, str(exc).splitlines()[0][:200])
        if resampler is not None and audio_clock is not None:
            for out in resampler.resample(None):
                audio_clock = _place_audio(writer, out.to_ndarray().reshape(-1), audio_clock, segment_s)
        if not writers:
            return
        yield from ready(final=True)


def _place_audio(writer: Any, samples: np.ndarray, t_s: float, segment_s: float) -> float:
    """Hand samples starting at `t_s` to the segments they fall in (split at segment edges); returns their end."""
    while len(samples):
        index = int(math.floor(max(t_s, 0.0) / segment_s + 1e-9))
        room = int(round(((index + 1) * segment_s - t_s) * AUDIO_RATE))
        take = max(1, min(len(samples), room))
        if t_s >= -1e-3:
            writer(index).add_audio(samples[:take], t_s)
        samples = samples[take:]
        t_s += take / AUDIO_RATE
    return t_s


def _upright(frame: av.VideoFrame, aspect: Fraction) -> tuple[av.VideoFrame, Fraction]:
    """The frame turned as its display matrix says (the re-encoded stream carries no rotation of its own),
    with its pixels' aspect (pixel_aspect), which a quarter turn inverts; an interlaced frame becomes its
    top field at full height (top_field: the re-encoded stream is progressive)."""
    turns = int(round(getattr(frame, "rotation", 0) or 0)) // 90 % 4
    if not turns and not frame.interlaced_frame:
        return frame, aspect
    image = top_field(frame, frame.width, frame.height) if frame.interlaced_frame else frame.to_ndarray(format="rgb24")
    image = np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image
    return av.VideoFrame.from_ndarray(image, format="rgb24"), (1 / aspect if turns % 2 else aspect)
