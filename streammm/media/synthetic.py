"""Synthetic test media: small files in many formats with a burned-in running timecode (for tests and benches).

Every video frame shows its own media time as large digits (`12.5`), so OCR of any decoded frame says
where on the timeline it should sit. Audio is a tone whose pitch changes each second. The cases of the
format matrix (MATRIX) are what tests/integration/test_formats.py and `streammm bench perception` use.

media/text_heavy.py makes the other kind: a long, text-heavy video (changing slides and scrolling credits).
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48_000
COVER_PX = 160


@dataclass(frozen=True)
class Case:
    """One file of the format matrix: container, codecs and what is odd about it."""

    name: str
    suffix: str
    container: str
    video: str | None = "libx264"
    audio: str | None = "aac"
    size: tuple[int, int] = (320, 240)
    fps: int = 10
    duration_s: float = 7.0
    pix_fmt: str = "yuv420p"
    start_s: float = 0.0  # first timestamp in the file (MPEG-TS style)
    vfr: bool = False  # frame intervals alternate between short and long
    gop_s: float | None = 1.0  # keyframe interval; None = one keyframe at the start only
    edit_drop_s: float = 0.0  # frames before 0 that an edit list hides (QuickTime)
    rotate: int = 0  # display rotation in degrees (stored picture is turned the other way)
    audio_channels: int = 2
    audio_rate: int = AUDIO_RATE
    cover: bool = False  # an attached picture (cover art), as music and podcast files have
    subtitles: str | None = None  # a text subtitle track of this codec, showing CAPTIONS
    options: dict[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.suffix}"

    def encoders(self) -> list[str]:
        return [c for c in (self.video, self.audio) if c]


MATRIX: tuple[Case, ...] = (
    Case("mp4_h264_aac", "mp4", "mp4", subtitles="mov_text"),
    Case("mkv_vp9_opus", "mkv", "matroska", "libvpx-vp9", "libopus", audio_rate=48_000, subtitles="ass"),
    Case("webm_vp8_vorbis", "webm", "webm", "libvpx", "vorbis", subtitles="webvtt"),
    Case("ogv_theora_vorbis", "ogv", "ogg", "libtheora", "vorbis"),
    Case("avi_mjpeg_pcm", "avi", "avi", "mjpeg", "pcm_s16le", pix_fmt="yuvj420p"),
    Case("avi_cinepak", "avi", "avi", "cinepak", "pcm_s16le", size=(192, 144), pix_fmt="rgb24", audio_channels=1, audio_rate=22_050),
    Case("ts_mpeg2_mp2", "ts", "mpegts", "mpeg2video", "mp2", start_s=1.4),
    Case("mov_edit_list", "mov", "mov", "libx264", "aac", edit_drop_s=0.5),
    Case("mp4_rotated_90", "mp4", "mp4", "libx264", "aac", rotate=90),
    Case("mp4_vfr", "mp4", "mp4", "libx264", "aac", vfr=True),
    Case("mp4_one_keyframe", "mp4", "mp4", "libx264", None, gop_s=None),
    Case("mkv_odd_641x479", "mkv", "matroska", "mpeg4", "flac", size=(641, 479), subtitles="subrip"),
    Case("mp4_tiny_64x48", "mp4", "mp4", size=(64, 48)),  # under OpenCV's people-detector window
    Case("mp4_hevc_10bit", "mp4", "mp4", "libx265", "aac", pix_fmt="yuv420p10le", options={"x265-params": "log-level=error"}),
    Case("mp4_av1", "mp4", "mp4", "libsvtav1", "aac"),
    Case("mp3_audio_only", "mp3", "mp3", None, "libmp3lame", audio_channels=1, audio_rate=44_100),
    Case("m4a_cover_art", "m4a", "mp4", None, "aac", audio_channels=1, audio_rate=44_100, cover=True),
    Case("flac_audio_only", "flac", "flac", None, "flac", audio_channels=6, audio_rate=32_000),
)


# (start_s, end_s, words) of every case with subtitles: the second spans the segment cuts at 2 and 4 s
# (keyframes every second, ~2 s segments). Files store them with their codec's styling (styled_cue).
CAPTIONS: tuple[tuple[float, float, str], ...] = (
    (0.4, 1.5, "The orange kite"),
    (1.7, 4.6, "climbs over the windy harbour"),
    (5.2, 6.4, "a lighthouse blinks"),
)
ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, "
    "StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n[Events]\n"
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
).encode()


def missing_encoders(case: Case) -> list[str]:
    """The encoders `case` needs that this FFmpeg build lacks."""
    missing = []
    for name in case.encoders():
        try:
            av.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):  # PyAV raises UnknownCodecError (a ValueError) for unknown names
            missing.append(name)
    return missing


def timecode_text(t_s: float) -> str:
    return f"{t_s:04.1f}"


def draw_timecode(t_s: float, width: int, height: int) -> np.ndarray:
    """An RGB frame: a still colour field and the timecode in black on a white box (only the digits change,
    so OCR's change gate re-reads only them and no frame looks like a cut)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    size = max(12, int(min(width, height) * 0.28))
    font = default_font(size)
    text = timecode_text(t_s)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = (width - (right - left)) // 2, (height - (bottom - top)) // 2
    pad = size // 5
    draw.rectangle((x - pad, y - pad, x + right - left + pad, y + bottom - top + pad), fill=(255, 255, 255))
    draw.text((x - left, y - top), text, fill=(0, 0, 0), font=font)
    return np.asarray(image)


@functools.lru_cache(maxsize=8)
def default_font(size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def frame_times(case: Case) -> list[float]:
    """Presentation times of the case's video frames (before its start offset), over its duration."""
    step = 1.0 / case.fps
    if not case.vfr:
        count = int(round(case.duration_s * case.fps))
        return [-case.edit_drop_s + i * step for i in range(count + int(round(case.edit_drop_s * case.fps)))]
    times, t, i = [], 0.0, 0
    while t < case.duration_s - 1e-9:
        times.append(round(t, 4))
        t += step * (0.5 if (i // 5) % 2 == 0 else 2.0)  # bursts of fast and slow frames
        i += 1
    return times


def write_case(case: Case, folder: Path) -> Path:
    """Encode `case` into `folder`; returns the file. The calling thread's scheduling is as it was before
    (see scheduling_kept)."""
    path = Path(folder) / case.filename
    ms = Fraction(1, 1000)
    with scheduling_kept(), av.open(str(path), "w", format=case.container) as out:
        video = audio = None
        cover = _add_cover(out) if case.cover else None
        if case.video:
            video = out.add_stream(case.video, rate=case.fps, options=dict(case.options))
            width, height = case.size if case.rotate % 180 == 0 else case.size[::-1]
            video.width, video.height, video.pix_fmt = width, height, case.pix_fmt
            video.codec_context.time_base = ms if case.vfr or case.edit_drop_s else Fraction(1, case.fps)
            if case.gop_s is None:
                video.codec_context.gop_size = 10_000
                if case.video == "libx264":
                    video.codec_context.options = {"x264-params": "keyint=10000:min-keyint=10000:scenecut=0"}
            else:
                video.codec_context.gop_size = max(1, int(case.gop_s * case.fps))
            if case.video == "libx264":
                video.codec_context.max_b_frames = 2  # B-frames: negative DTS at the start
            if case.vfr or case.edit_drop_s:
                video.time_base = Fraction(1, 1000)
        if case.audio:
            audio = out.add_stream(case.audio, rate=case.audio_rate)
            audio.layout = _layout(case.audio_channels)
            if case.audio == "vorbis":
                audio.codec_context.options = {"strict": "experimental"}
        if cover is not None:
            _mux_cover(out, cover)
        packets = _subtitle_packets(case, out) if case.subtitles else []
        if video is not None:
            packets += _encode_video(case, video)
        if audio is not None:
            packets += _encode_audio(case, audio)
        for packet in sorted(packets, key=lambda p: float((p.dts if p.dts is not None else 0) * p.time_base)):
            shift = _ticks(case.start_s, packet.time_base)
            if packet.pts is not None:
                packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
            out.mux(packet)
    if case.rotate:
        _set_mp4_rotation(path, case.rotate)
    return path


def thread_scheduling() -> tuple[int, os.sched_param] | None:
    """The calling thread's scheduling policy and priority; None where the OS has no such thing (not Linux)."""
    if not hasattr(os, "sched_getscheduler"):
        return None
    return os.sched_getscheduler(0), os.sched_getparam(0)


@contextlib.contextmanager
def scheduling_kept() -> Iterator[None]:
    """The calling thread's scheduling policy and priority, put back as they were afterwards. SVT-AV1 (FFmpeg's
    libsvtav1) makes the thread that opens it a real-time one (SCHED_FIFO, priority 99) where it may, as root
    does; every thread and process started from it after inherits that. A test run that had written the AV1
    case went on in real time: a worker's threads spinning while they waited for another starved the one they
    waited for on a 2-core machine, and the suite hung."""
    before = thread_scheduling()
    try:
        yield
    finally:
        if before is not None and thread_scheduling() != before:
            os.sched_setscheduler(0, *before)


def add_subtitle_stream(out, codec: str, language: str = "", *, default: bool = True):  # type: ignore[no-untyped-def]
    """A text subtitle stream of `codec` (subrip, ass, mov_text, webvtt) whose packets are muxed as written
    (subtitle_packet): no encoder runs."""
    stream = out.add_stream(codec)
    stream.codec_context.subtitle_header = ASS_HEADER
    stream.time_base = Fraction(1, 1000)
    if language:
        stream.metadata["language"] = language
    stream.disposition = av.stream.Disposition.default if default else av.stream.Disposition(0)
    return stream


def subtitle_packet(stream, start_s: float, end_s: float, text: str, read_order: int = 0) -> av.Packet:  # type: ignore[no-untyped-def]
    """One cue as `stream`'s codec stores it in a file."""
    data = text.encode()
    codec = stream.codec_context.name
    if codec == "ass":
        data = f"{read_order},0,Default,,0,0,0,,{text}".encode()
    elif codec == "mov_text":
        data = struct.pack(">H", len(data)) + data
    packet = av.Packet(data)
    packet.stream, packet.time_base = stream, Fraction(1, 1000)
    packet.pts = packet.dts = round(start_s * 1000)
    packet.duration = round((end_s - start_s) * 1000)
    return packet


def with_subtitles(source: Path, target: Path, tracks: list[tuple[str, str, bool, list[tuple[float, float, str]]]]) -> Path:
    """`source`'s video and audio remuxed (not re-encoded) into `target` (Matroska, or MP4 for mov_text
    tracks) with subtitle tracks, each (codec, language, default, cues as (start_s, end_s, text))."""
    with scheduling_kept(), av.open(str(source)) as src, av.open(str(target), "w") as out:
        inputs = [s for s in src.streams if s.type in ("video", "audio")]
        outputs = {s.index: out.add_stream_from_template(s) for s in inputs}
        packets = []
        for codec, language, default, cues in tracks:
            stream = add_subtitle_stream(out, codec, language, default=default)
            packets += [subtitle_packet(stream, a, b, styled_cue(text, codec), i) for i, (a, b, text) in enumerate(cues)]
        for packet in src.demux(*inputs):
            if packet.dts is None:
                continue
            packet.stream = outputs[packet.stream.index]
            out.mux(packet)
        for packet in packets:
            out.mux(packet)
    return target


def srt_text(cues: list[tuple[float, float, str]]) -> str:
    """An SRT subtitle file's text for (start_s, end_s, text) cues."""
    def stamp(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{i}\r\n{stamp(a)} --> {stamp(b)}\r\n{text}\r\n\r\n" for i, (a, b, text) in enumerate(cues, 1))


def styled_cue(words: str, codec: str) -> str:
    """`words` as a subtitle file of `codec` may store them: the second word in italics, a line break
    after the third (ASS override tags in ASS, HTML-like tags in SRT and WebVTT; plain in MP4)."""
    first, *rest = words.split(" ", 3)
    if not rest:
        return words
    italic = {"ass": "{\\i1}%s{\\i0}", "ssa": "{\\i1}%s{\\i0}", "subrip": "<i>%s</i>", "webvtt": "<i>%s</i>"}.get(codec, "%s")
    parts = [first, italic % rest[0], *rest[1:]]
    text = " ".join(parts[:3])
    if len(parts) > 3:
        text += ("\\N" if codec in ("ass", "ssa") else "\n") + parts[3]
    return text


def _subtitle_packets(case: Case, out) -> list:  # type: ignore[no-untyped-def]
    stream = add_subtitle_stream(out, case.subtitles, "eng")
    return [subtitle_packet(stream, start_s, end_s, styled_cue(words, case.subtitles), i) for i, (start_s, end_s, words) in enumerate(CAPTIONS)]


def _add_cover(out):  # type: ignore[no-untyped-def]
    """An attached-picture stream (cover art); muxers put it where their format keeps it (MP4: last)."""
    stream = out.add_stream("mjpeg")
    stream.width, stream.height, stream.pix_fmt = COVER_PX, COVER_PX, "yuvj420p"
    stream.disposition = av.stream.Disposition.attached_pic
    return stream


def _mux_cover(out, stream) -> None:  # type: ignore[no-untyped-def]
    """The cover's one packet, a JPEG that reads COVER, muxed before any other."""
    from PIL import Image

    picture = io.BytesIO()
    Image.fromarray(_cover_image()).save(picture, format="JPEG")
    packet = av.Packet(picture.getvalue())
    packet.stream, packet.pts, packet.dts, packet.time_base = stream, 0, 0, Fraction(1, 90_000)
    out.mux(packet)


def _cover_image() -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (COVER_PX, COVER_PX), (200, 40, 40))
    ImageDraw.Draw(image).text((20, COVER_PX // 2 - 20), "COVER", fill=(255, 255, 255), font=default_font(40))
    return np.asarray(image)


def _encode_video(case: Case, stream) -> list:  # type: ignore[no-untyped-def]
    tb = stream.codec_context.time_base
    packets = []
    for t in frame_times(case):
        image = draw_timecode(t, *case.size)
        if case.rotate:
            image = np.ascontiguousarray(np.rot90(image, k=case.rotate // 90))  # stored turned, shown upright
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = _ticks(t, tb) if tb != Fraction(1, case.fps) else int(round(t * case.fps))
        frame.time_base = tb
        packets += stream.encode(frame)
    packets += stream.encode(None)
    return packets


def _encode_audio(case: Case, stream) -> list:  # type: ignore[no-untyped-def]
    rate, channels = case.audio_rate, case.audio_channels
    total = int(case.duration_s * rate)
    t = np.arange(total) / rate
    pitch = 300 + 100 * np.floor(t)
    tone = (0.2 * np.sin(2 * math.pi * pitch * t)).astype(np.float32)
    samples = np.repeat(tone[None, :], channels, axis=0)
    frame_size = stream.codec_context.frame_size or 1024
    packets = []
    for start in range(0, total, frame_size):
        piece = np.ascontiguousarray(samples[:, start : start + frame_size])
        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=_layout(channels))
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        packets += stream.encode(frame)
    packets += stream.encode(None)
    return packets


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo", 6: "5.1"}.get(channels, f"{channels}c")


def _ticks(seconds: float, time_base: Fraction) -> int:
    return int(round(Fraction(seconds).limit_denominator(1_000_000) / time_base))


def _set_mp4_rotation(path: Path, degrees: int) -> None:
    """Write a display matrix into the video track's `tkhd` box (PyAV cannot set side data on output)."""
    data = bytearray(path.read_bytes())
    one, minus = 0x00010000, 0xFFFF0000
    matrices = {90: (0, one, 0, minus, 0, 0), 180: (minus, 0, 0, 0, minus, 0), 270: (0, minus, 0, one, 0, 0)}
    a, b, u, c, d, v = matrices[degrees % 360]
    at = 0
    while (at := data.find(b"tkhd", at + 1)) > 0:
        version = data[at + 4]
        matrix_at = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
        width = struct.unpack(">I", data[matrix_at + 36 : matrix_at + 40])[0]
        if width == 0:
            continue  # the audio track
        values = (a, b, u, c, d, v, 0, 0, 0x40000000)
        data[matrix_at : matrix_at + 36] = struct.pack(">9I", *values)
    path.write_bytes(bytes(data))
