"""Decoding without decord's quirks: PyAV picks the frames plan_frames picks, at the same times; segments of
codecs Matroska refuses, and of long-GOP video, still decode; a segment record says what it carries."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from streammm.bus.codec import decode_segment, encode_segment, pack, unpack
from streammm.config import MediaConfig
from streammm.errors import MediaError
from streammm.media.frame_grid import plan_frames
from streammm.media.frames import FrameSampler, _Picker, sample_frames
from streammm.media.reading import decoded
from streammm.media.segments import iter_segments
from streammm.media.synthetic import Case, missing_encoders, write_case
from streammm.records import Segment


def picked(starts: list[float], options: MediaConfig) -> list[tuple[float, str]]:
    picker = _Picker(options)
    picker.start(starts[0])
    out = []
    for t, following in zip(starts, starts[1:] + [None]):
        out += [(t, role) for role in picker.roles_until(t, following)]
    return out


@pytest.mark.parametrize("fps", [25.0, 7.0, 0.7])
@pytest.mark.parametrize("offset", [0.0, 1.37, 10.0])
def test_the_one_pass_picker_picks_what_plan_frames_picks(fps: float, offset: float):
    rng = np.random.default_rng(int(fps * 10 + offset))
    gaps = rng.uniform(0.5, 1.5, 120) / fps  # variable frame rate
    starts = list(np.round(offset + np.concatenate([[0.0], np.cumsum(gaps)]), 4))
    options = MediaConfig(sample_fps=1.0, shot_detect_fps=4.0)
    want = [(float(starts[i]), role) for i, role in plan_frames(np.array(starts), options)]
    assert picked([float(s) for s in starts], options) == want


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("decode")


def make(case: Case, folder: Path) -> Path:
    missing = missing_encoders(case)
    if missing:
        pytest.skip(f"this FFmpeg build has no {', '.join(missing)} encoder")
    return write_case(case, folder)


def test_a_codec_matroska_refuses_goes_into_nut_segments_that_decode(made: Path):
    path = make(Case("cvid", "avi", "avi", "cinepak", "pcm_s16le", size=(96, 64), pix_fmt="rgb24", duration_s=4.0), made)
    segments = list(iter_segments(path, "s", 2.0))
    assert [s.container for s in segments] == ["nut", "nut"]
    assert segments[0].video_codec == "cinepak" and not segments[0].reencoded
    times = [f.t_s for s in segments for f in sample_frames(s.data, MediaConfig(shot_detect_fps=0), offset_s=s.start_s, end_s=s.end_s)]
    assert times == [0.0, 1.0, 2.0, 3.0]


def test_av1_is_remuxed_into_matroska_not_re_encoded(made: Path):
    """PyAV reads AV1 with libdav1d, a decoder no encoder shares a name with: its streams had failed to copy
    into a segment, so every AV1 input was re-encoded (the whole picture through x264, slower and lossy)."""
    path = make(Case("av1", "mp4", "mp4", "libsvtav1", "aac", duration_s=4.0), made)
    segments = list(iter_segments(path, "s", 2.0))
    assert [(s.container, s.reencoded) for s in segments] == [("matroska", False), ("matroska", False)]
    assert segments[0].video_codec in ("libdav1d", "av1") and segments[0].audio_codec == "aac"
    times = [f.t_s for s in segments for f in sample_frames(s.data, MediaConfig(shot_detect_fps=0), offset_s=s.start_s, end_s=s.end_s)]
    assert times == [0.0, 1.0, 2.0, 3.0]


def test_an_mpeg_ts_clock_reset_continues_the_timeline_instead_of_losing_what_follows(made: Path):
    """Two recordings joined into one MPEG-TS file (`cat a.ts b.ts`, a broadcast whose clock was reset): the
    second restarts its timestamps at 0. Its packets had overlapped the first's and were lost; they now follow
    on, so each picture is sampled once, in order, at 0.9, 1.9, ... 7.9 s."""
    from streammm.media.synthetic import draw_timecode

    first = make(Case("first", "ts", "mpegts", duration_s=4.0), made)
    second = make(Case("second", "ts", "mpegts", duration_s=4.0), made)
    joined = made / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    segments = list(iter_segments(joined, "s", 2.0))
    frames = [f for s in segments for f in sample_frames(s.data, MediaConfig(shot_detect_fps=0), offset_s=s.start_s, end_s=s.end_s)]
    timecodes = {round(0.1 * i, 1): draw_timecode(round(0.1 * i, 1), 320, 240).astype(int) for i in range(41)}

    def shown(image: np.ndarray) -> float:  # the timecode the picture is closest to
        return min(timecodes, key=lambda t: np.abs(image.astype(int) - timecodes[t]).mean())

    assert [round(f.t_s, 1) for f in frames] == [0.9, 1.9, 2.9, 3.9, 4.9, 5.9, 6.9, 7.9]
    assert [shown(f.image) for f in frames] == [0.9, 1.9, 2.9, 3.9] * 2
    assert segments[-1].last and segments[-1].end_s == pytest.approx(8.0, abs=0.1)


def test_a_damaged_mpeg_ts_file_is_read_to_its_end(made: Path, caplog: pytest.LogCaptureFixture):
    """Bit rot over the last four fifths of a 20 s MPEG-TS file (200 bytes flipped, seeded): the demuxer reads
    a stream out of damaged bytes (PyAV then fails after the last packet, IndexError), the decoder refuses
    packets, one presentation time is 23 hours off and the muxer refuses packets. The file had been given up
    after three publisher retries, nothing of it indexed; it is now read to its end, at most a segment lost
    to the damage, with pictures throughout."""
    import random

    path = make(Case("rot", "ts", "mpegts", duration_s=20.0), made)
    data = bytearray(path.read_bytes())
    rng = random.Random(1)
    for _ in range(200):
        data[rng.randrange(len(data) // 5, len(data))] ^= 0xFF
    rotten = made / "rotten.ts"
    rotten.write_bytes(bytes(data))
    segments = list(iter_segments(rotten, "s", 2.0))
    assert segments[-1].last and segments[-1].end_s == pytest.approx(20.0, abs=0.1)
    assert all(after.start_s == pytest.approx(before.end_s, abs=0.05) for before, after in zip(segments, segments[1:]))
    times = [f.t_s for s in segments for f in sample_frames(s.data, MediaConfig(shot_detect_fps=0), offset_s=s.start_s, end_s=s.end_s)]
    assert times == sorted(times) and times[-1] > 18.5 and len(times) >= 17  # a picture a second, 2 s lost at most
    caplog.clear()
    with av.open(str(rotten)) as container, caplog.at_level(logging.WARNING):  # the log names the input as told
        frames = list(decoded(container, container.streams.video[0], name="cam-7 (password masked)"))
    assert frames[-1].time > 19 and "cam-7 (password masked): a stream appeared" in caplog.text and str(rotten) not in caplog.text


def test_long_gop_video_is_re_encoded_into_segments_of_segment_s(made: Path):
    path = make(Case("onekey", "mp4", "mp4", "libx264", "aac", duration_s=7.0, gop_s=None), made)
    segments = list(iter_segments(path, "s", 2.0, max_keyframe_gap_s=5.0))
    assert [s.start_s for s in segments] == [0.0, 2.0, 4.0, 6.0]
    assert [s.duration_s for s in segments[:-1]] == [2.0, 2.0, 2.0] and segments[-1].end_s == pytest.approx(7.0, abs=0.05)
    assert all(s.reencoded and s.audio_codec == "pcm_s16le" for s in segments)
    times = [f.t_s for s in segments for f in sample_frames(s.data, MediaConfig(shot_detect_fps=0), offset_s=s.start_s, end_s=s.end_s)]
    assert times == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_rotated_video_comes_out_upright(made: Path):
    from streammm.media.synthetic import draw_timecode

    path = make(Case("turned", "mp4", "mp4", "libx264", None, duration_s=2.0, rotate=90), made)
    frame = next(iter(sample_frames(path, MediaConfig(shot_detect_fps=0))))
    upright = draw_timecode(frame.t_s, 320, 240)
    assert frame.image.shape == upright.shape
    assert np.abs(frame.image.astype(int) - upright.astype(int)).mean() < 8


def test_decord_failure_is_remembered_per_stream(monkeypatch: pytest.MonkeyPatch, made: Path):
    import streammm.media.frames as frames

    path = make(Case("plain", "mkv", "matroska", "mpeg4", None, duration_s=2.0), made)
    tries = []

    def failing_decord(*args, **kwargs):  # type: ignore[no-untyped-def]
        tries.append(1)
        raise MediaError("cannot decode video: broken metadata")
        yield  # a generator, as the real one

    monkeypatch.setattr(frames, "decord_frames", failing_decord)
    sampler = FrameSampler(MediaConfig(decoder="decord", shot_detect_fps=0))
    for _ in range(3):
        assert [f.t_s for f in sampler.frames(str(path), key="cam")] == [0.0, 1.0]
    assert len(tries) == 1 and sampler.decoder_for("cam") == "pyav" and sampler.decoder_for("other") == "decord"


def test_segment_records_say_what_they_carry_and_old_records_still_decode():
    segment = Segment("cam", 3, 6.0, 2.0, "nut", b"media", video_codec="cinepak", audio_codec="pcm_s16le", reencoded=False)
    back, _ = decode_segment(encode_segment(segment, published_at=1.0))
    assert (back.container, back.video_codec, back.audio_codec, back.reencoded) == ("nut", "cinepak", "pcm_s16le", False)
    assert back.carries == "nut: video cinepak + audio pcm_s16le"
    kind, header, payload = unpack(encode_segment(replace(segment, container="matroska"), published_at=1.0))
    for key in ("video_codec", "audio_codec", "reencoded"):
        header.pop(key)  # as a publisher before these fields wrote it
    old, _ = decode_segment(pack(kind, json.loads(json.dumps(header)), payload))
    assert (old.container, old.video_codec, old.reencoded) == ("matroska", "", False)
    assert old.carries == "matroska: codecs not recorded"


def _late_first_frame_segment(first_pts_s: float, duration_s: float = 3.0, fps: int = 10) -> bytes:
    """A Matroska segment (made here with PyAV) whose first frame comes `first_pts_s` after its start, as a
    live segment's often does after a cut."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(duration_s * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8 % 255, dtype=np.uint8), format="rgb24")
            frame.pts = int(round(first_pts_s * fps)) + i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def test_a_segment_whose_first_frame_comes_late_still_gives_the_grid_instant_at_its_start(caplog: pytest.LogCaptureFixture):
    """After a live source's freeze, the frames at 15.0 s and 20.0 s were missing: each segment's first
    frame came a few hundredths after the segment's start, and the start instant fell between segments."""
    data = _late_first_frame_segment(0.3)
    options = MediaConfig(sample_fps=1.0, shot_detect_fps=0.0)
    times = [f.t_s for f in sample_frames(data, options, offset_s=15.0, end_s=18.0)]
    assert times[:3] == [15.3, 16.0, 17.0], "the first picture, shown from 15.3 s, is the sample of 15 s"
    # A picture that arrives a whole interval late does not stand in for instants it was not on screen for.
    assert "shows no picture" not in caplog.text
    times = [f.t_s for f in sample_frames(_late_first_frame_segment(1.5), options, offset_s=15.0, end_s=18.0)]
    assert times[0] == 17.0
    assert "the segment at 15.00 s shows no picture until 16.50 s" in caplog.text  # the lost seconds are logged


def test_a_segment_whose_clock_stands_still_says_so(caplog: pytest.LogCaptureFixture):
    """Made here with PyAV (no dev media has it): a live source's clock that stands still for 8 frames
    (a camera catching up after a stall may send that). Those pictures have no time after the last one
    shown, so the grid instant they covered is shown by that frame; the log says how many and when."""
    import io
    from fractions import Fraction

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        times_ms = [100 * i for i in range(8)] + [700] * 8 + [100 * i for i in range(16, 25)]
        for i, ms in enumerate(times_ms):
            picture = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
            for packet in stream.encode(picture.reformat(format="yuvj420p")):
                packet.pts = packet.dts = ms
                packet.time_base = Fraction(1, 1000)
                out.mux(packet)
    with caplog.at_level("WARNING", logger="streammm.media.frames"):
        frames = list(sample_frames(buffer.getvalue(), MediaConfig(sample_fps=1.0, shot_detect_fps=0), offset_s=10.0, end_s=12.5))
    assert [f.t_s for f in frames] == [10.0, 10.7, 12.0]
    assert "the segment at 10.00 s has 8 frames whose times (10.70-10.70 s) do not follow the one before" in caplog.text


def write_anamorphic(path: Path, codec: str, fmt: str, *, gop: int) -> Path:
    """A 2 s picture stored 480x360 with 4:3 pixels (shown 640x360, as DVDs and HDV broadcasts are): a
    round ring as players show it, so squeezed to an ellipse in the stored pixels. Made here with PyAV and
    Pillow: the dev media has no anamorphic video."""
    from fractions import Fraction

    from PIL import Image, ImageDraw

    shown = Image.new("RGB", (640, 360), "white")
    ImageDraw.Draw(shown).ellipse((220, 80, 420, 280), outline="black", width=10)
    stored = np.asarray(shown.resize((480, 360), Image.Resampling.LANCZOS))
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=25, options={"g": str(gop)})
        stream.width, stream.height, stream.pix_fmt = 480, 360, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(4, 3)
        encode_pictures(out, stream, [stored] * 50)
    return path


def encode_pictures(out: av.container.OutputContainer, stream: av.video.stream.VideoStream, pictures: list[np.ndarray]) -> None:
    """Each RGB picture as the next frame of `stream` (pts 0, 1, ...), then the encoder's last packets."""
    for i, picture in enumerate(pictures):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def ring_width_over_height(image: np.ndarray) -> float:
    dark = np.argwhere(image.mean(axis=2) < 100)
    (top, left), (bottom, right) = dark.min(axis=0), dark.max(axis=0)
    return (right - left + 1) / (bottom - top + 1)


@pytest.mark.parametrize("codec, fmt, gop", [("libx264", "mp4", 25), ("mpeg2video", "mpegts", 12), ("libx264", "matroska", 250)])
def test_anamorphic_video_is_seen_as_players_show_it(made: Path, codec: str, fmt: str, gop: int):
    """Frames come out in square pixels, from the file, from its segments and from re-encoded segments (the
    last case's single keyframe forces re-encoding): a ring stays round and the picture 16:9."""
    path = write_anamorphic(made / f"anamorphic-{codec}.{fmt}", codec, fmt, gop=gop)
    options = MediaConfig(shot_detect_fps=0)
    segments = list(iter_segments(path, "s", 1.0, max_keyframe_gap_s=2.0 if gop < 50 else 0.5))
    assert any(s.reencoded for s in segments) == (gop > 50)
    frames = list(sample_frames(path, options)) + [f for s in segments for f in sample_frames(s.data, options, offset_s=s.start_s, end_s=s.end_s)]
    assert len(frames) >= 4
    for frame in frames:
        assert frame.image.shape[:2] == (360, 640)
        assert ring_width_over_height(frame.image) == pytest.approx(1.0, abs=0.04)


def test_decord_also_gives_anamorphic_frames_in_square_pixels(made: Path):
    path = write_anamorphic(made / "anamorphic-decord.mp4", "libx264", "mp4", gop=25)
    frames = list(sample_frames(path, MediaConfig(shot_detect_fps=0), decoder="decord"))
    assert [f.t_s for f in frames] == [0.0, 1.0]
    assert all(f.image.shape[:2] == (360, 640) and ring_width_over_height(f.image) == pytest.approx(1.0, abs=0.04) for f in frames)


TICKER = "BREAKING NEWS: harbour ferry delayed"


def ticker_picture(t: float) -> np.ndarray:
    """A news ticker moving left at 400 px/s under a still channel name, at time `t`."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (720, 576), (20, 30, 60))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(30)
    draw.text((40, 60), "CHANNEL 7 LIVE", font=font, fill="white")
    draw.text((int(40 - (t - 1.0) * 400), 400), TICKER, font=font, fill="white")  # whole at 1 s
    return np.asarray(image)


def write_interlaced(path: Path, *, gop: int) -> Path:
    """2 s of 576i broadcast (H.264, top field first, in MPEG-TS), as a camera makes it: each frame's even
    lines are the picture at its time, its odd lines 1/50 s later. Made here with PyAV and Pillow: the dev
    media has no interlaced video."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=25, options={"x264-params": "interlaced=1:tff=1", "g": str(gop)})
        stream.width, stream.height, stream.pix_fmt = 720, 576, "yuv420p"
        encode_pictures(out, stream, [woven(ticker_picture(i / 25), ticker_picture(i / 25 + 0.02)) for i in range(50)])
    return path


def woven(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """One interlaced frame: `top`'s even lines and `bottom`'s odd ones."""
    frame = top.copy()
    frame[1::2] = bottom[1::2]
    return frame


def combing(image: np.ndarray) -> float:
    """How much more a picture's lines differ from the next line than from the line after it: ~0 for a
    picture of one moment, large where two moments are woven together."""
    band = image[380:460].astype(int)
    return float(np.abs(band[1:-1] - band[2:]).mean() - 0.5 * np.abs(band[:-2] - band[2:]).mean())


@pytest.mark.parametrize("gop", [25, 250])  # 250: one keyframe, so the segments are re-encoded
def test_interlaced_video_is_seen_one_moment_at_a_time(made: Path, gop: int):
    """A moving news ticker in interlaced video comes out in one piece (not combed) from the file, its
    segments and its re-encoded segments, and OCR reads it; combed, it read "EREAKNG NENS" and "lharbowr
    fenry"."""
    from streammm.config import load_settings
    from streammm.models.registry import create_ocr_engine

    path = write_interlaced(made / f"interlaced-{gop}.ts", gop=gop)
    options = MediaConfig(shot_detect_fps=0)
    segments = list(iter_segments(path, "s", 1.0, max_keyframe_gap_s=2.0 if gop < 50 else 0.5))
    assert any(s.reencoded for s in segments) == (gop > 50)
    with av.open(str(path)) as container:  # the stored frame at 1 s, both fields shown at once
        both_fields = combing(next(f for f in container.decode(video=0) if f.time >= 1.0).to_ndarray(format="rgb24"))
    frames = list(sample_frames(path, options)) + [f for s in segments for f in sample_frames(s.data, options, offset_s=s.start_s, end_s=s.end_s)]
    assert len(frames) == 4 and all(f.image.shape[:2] == (576, 720) for f in frames)
    assert all(combing(f.image) < both_fields / 4 for f in frames), [round(combing(f.image), 1) for f in frames] + [round(both_fields, 1)]
    engine = create_ocr_engine(load_settings(env={}).models)
    read = " ".join(box.text for box in engine.read(next(f.image for f in frames if f.t_s == 1.0)))
    assert "BREAKING NEWS" in read and "harbour ferry" in read, read


def write_two_audio_tracks(path: Path) -> Path:
    """2 s of Matroska with two audio tracks: first a commentary (a 440 Hz tone), then the main track,
    marked default (1000 Hz). Made here with PyAV: the dev media has no file with several audio tracks."""
    from av.stream import Disposition

    with av.open(str(path), "w") as out:
        tracks = [out.add_stream("pcm_s16le", rate=16_000) for _ in range(2)]
        for track, disposition in zip(tracks, (Disposition.comment, Disposition.default)):
            track.layout, track.disposition = "mono", disposition
        for track, hz in zip(tracks, (440, 1000)):
            tone = (np.sin(2 * np.pi * hz * np.arange(32_000) / 16_000) * 8000).astype(np.int16)[None]
            frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16_000, 0
            for packet in [*track.encode(frame), *track.encode()]:
                out.mux(packet)
    return path


def loudest_hz(samples: np.ndarray, rate: int) -> float:
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(np.abs(np.fft.rfft(samples)))])


def test_the_main_audio_track_is_heard_not_a_commentary(made: Path):
    from streammm.media.audio import load_audio

    path = write_two_audio_tracks(made / "two-tracks.mkv")
    whole = load_audio(path)
    assert whole is not None and loudest_hz(whole.samples, whole.sample_rate) == pytest.approx(1000, abs=5)
    for segment in iter_segments(path, "s", 1.0):
        heard = load_audio(segment.data, offset_s=segment.start_s)
        assert heard is not None and loudest_hz(heard.samples, heard.sample_rate) == pytest.approx(1000, abs=5)
