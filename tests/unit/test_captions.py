"""A file's text subtitle track read as timed lines of on-screen text (media/captions.py), and carried by
the segments it overlaps (ingest/sources.file_segments, the wire format).

The subtitled files are made here with PyAV: the dev media has no subtitle track, so the narrated
slideshow's narration (its forced-alignment utterance times, derived/narrated_slideshow.words.json) is
muxed in as SRT beside its own video and audio, and the format matrix's cases carry styled cues.
"""

from __future__ import annotations

import json
import logging
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from streammm.bus.codec import decode_segment, encode_segment, pack
from streammm.ingest.sources import file_segments
from streammm.media.captions import (
    CAPTION_X,
    CAPTION_Y,
    UNTIMED_CUE_S,
    clean_text,
    overlapping,
    read_captions,
    with_ends,
)
from streammm.media.synthetic import (
    CAPTIONS,
    MATRIX,
    add_subtitle_stream,
    srt_text,
    subtitle_packet,
    with_subtitles,
    write_case,
)
from streammm.paths import shared_media
from streammm.records import IngestRun

SLIDESHOW = shared_media() / "derived" / "narrated_slideshow.mp4"
needs_media = pytest.mark.skipif(not SLIDESHOW.exists(), reason="dev media missing: run tools/fetch-media.sh")


def utterances() -> list[tuple[float, float, str]]:
    words = json.loads((SLIDESHOW.parent / "narrated_slideshow.words.json").read_text())
    return [(u["start"], u["end"], u["text"]) for u in words["utterances"]]


def start_time_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return (container.start_time or 0) / av.time_base


def video_start_s(path: Path) -> float:
    """The first video frame's time on the file's timeline (from the container's start)."""
    with av.open(str(path)) as container:
        packet = next(p for p in container.demux(container.streams.video[0]) if p.pts is not None)
        return float(packet.pts * packet.time_base) - (container.start_time or 0) / av.time_base


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("{\\i1}climbs over{\\i0} the\\Nwindy harbour", "climbs over the windy harbour"),
        ("{\\pos(10,20)\\c&H00FFFF&}sign reads OPEN", "sign reads OPEN"),
        ('<font color="#ffff00">a lighthouse</font> <b>blinks</b>', "a lighthouse blinks"),
        ("<v Narrator>line one\nline two</v>", "line one line two"),
        ("\\\u2060{\\\u2060i1} escaped  by\u200bWebVTT\\hdecoding", "\\ escaped byWebVTT decoding"),
        ("   ", ""),
        ("3 < 4 and 5 > 2", "3 < 4 and 5 > 2"),  # a comparison is not markup
        ("Sign {\\p1}m 0 0 l 100 0 100 100{\\p0}here", "Sign here"),  # an ASS vector drawing is no text
        ("{\\pos(1,2)\\p2}m 0 0 b 1 1 2 2", ""),
        ("{\\k20}Karaoke {\\k30}words", "Karaoke words"),
    ],
)
def test_a_cue_keeps_its_words_and_loses_its_styling(raw: str, words: str):
    assert clean_text(raw) == words


def test_a_cue_without_a_usable_duration_shows_until_the_next_one_at_most_a_few_seconds():
    lines = with_ends([(5.0, None, "c"), (1.0, None, "a"), (2.5, 0.0, "b"), (20.0, 3600.0, "d"), (-3.0, 1.0, "gone"), (-0.5, 1.0, "cut")])
    assert [(line.start_s, line.end_s, line.text) for line in lines] == [
        (0.0, 0.5, "cut"),  # cut at 0; the one wholly before 0 is dropped
        (1.0, 2.5, "a"),
        (2.5, 5.0, "b"),
        (5.0, 5.0 + UNTIMED_CUE_S, "c"),
        (20.0, 20.0 + UNTIMED_CUE_S, "d"),  # an hour-long cue is a damaged duration
    ]
    assert all((line.x, line.y) == (CAPTION_X, CAPTION_Y) for line in lines)


def test_many_cues_without_durations_each_end_where_the_next_starts():
    """Load: a long transcript's worth of untimed cues (two at each start, as a file with a second line
    per cue gives them)."""
    timed = [(0.5 * (i // 2), None, f"cue {i}") for i in range(40_000)]
    lines = with_ends(timed)
    assert len(lines) == 40_000
    assert all(line.end_s == round(line.start_s + 0.5, 3) for line in lines[:-2])
    assert lines[-1].end_s == lines[-1].start_s + UNTIMED_CUE_S


def test_a_segment_gets_every_cue_shown_during_it_and_the_ends_get_the_rest():
    cues = with_ends([(-1.0, 1.5, "before"), (1.0, 0.8, "a"), (1.5, 2.0, "spans"), (4.0, 1.0, "b"), (9.0, 1.0, "after")])

    def texts(start_s: float, end_s: float, **ends: bool) -> list[str]:
        return [c.text for c in overlapping(cues, start_s, end_s, **ends)]

    assert texts(2.0, 4.0) == ["spans"]
    assert texts(0.2, 2.0, first=True) == ["before", "a", "spans"]
    assert texts(4.0, 6.0, last=True) == ["b", "after"]
    assert texts(6.0, 8.0) == []


@pytest.mark.parametrize("case", [c for c in MATRIX if c.subtitles], ids=lambda c: f"{c.name}-{c.subtitles}")
def test_every_text_subtitle_codec_reads_back_its_words_at_their_times(case, tmp_path: Path):
    """MP4 timed text, ASS in Matroska, WebVTT in WebM, SRT in Matroska: each cue's words (its styling
    gone) over its own seconds."""
    path = write_case(case, tmp_path)
    assert [(c.start_s, c.end_s, c.text) for c in read_captions(path)] == list(CAPTIONS)


@needs_media
def test_the_default_track_is_read_and_cues_sit_on_the_files_timeline(tmp_path: Path):
    """Two languages: the one marked default is read. Times are on the file's timeline, the one the segments
    use: where the picture is at the same time as in the source (the Matroska muxer moved everything 64 ms
    later, to where the AAC priming starts)."""
    path = with_subtitles(
        SLIDESHOW, tmp_path / "slides.mkv", [("subrip", "fre", False, [(0.5, 2.0, "bonjour le chat")]), ("subrip", "eng", True, utterances())]
    )
    shift_s = video_start_s(path) - video_start_s(SLIDESHOW)
    assert shift_s > 0.05
    lines = read_captions(path)
    assert [line.text for line in lines] == [text for _, _, text in utterances()]
    assert [(line.start_s, line.end_s) for line in lines] == [(round(a + shift_s, 3), round(b + shift_s, 3)) for a, b, _ in utterances()]


@needs_media
def test_each_segment_carries_the_cues_shown_during_it_over_the_wire(tmp_path: Path):
    """Every cue reaches every segment it overlaps (a sentence across a cut is in both), and travels in the
    segment's message; a message from an older publisher (no captions) still reads."""
    path = with_subtitles(SLIDESHOW, tmp_path / "slides.mkv", [("subrip", "eng", True, utterances())])
    segments = [decode_segment(encode_segment(s, published_at=time.time()))[0] for s in file_segments(str(path), "slides", 2.0)]
    cues = read_captions(path)
    assert len(segments) >= 5
    for segment in segments:
        shown = [c for c in cues if c.start_s < segment.end_s and c.end_s > segment.start_s]
        assert list(segment.captions) == shown, (segment.seq, segment.start_s, segment.end_s)
    assert {c for s in segments for c in s.captions} == set(cues)
    assert sum(cues[0] in s.captions for s in segments) == 2  # 0.2-6.8 s: across the cut at 5 s
    assert all(s.run.has_captions for s in segments)  # every segment of the run, cues or not
    old = pack("segment", {"stream_id": "s", "seq": 0, "start_s": 0.0, "duration_s": 2.0, "container": "matroska"}, b"")
    assert decode_segment(old)[0].captions == ()


def test_a_file_without_subtitles_reads_none_and_picture_subtitles_are_named_not_read(tmp_path: Path, caplog):
    plain = write_case(next(c for c in MATRIX if c.name == "mp4_one_keyframe"), tmp_path)
    assert read_captions(plain) == ()
    pictures = tmp_path / "dvd.mkv"
    with av.open(str(pictures), "w") as out:  # a DVD subtitle track: pictures, no text to read
        stream = out.add_stream("dvd_subtitle")
        stream.time_base = Fraction(1, 1000)
        packet = av.Packet(b"\x00\x10" + bytes(14))
        packet.stream, packet.time_base, packet.pts, packet.dts, packet.duration = stream, stream.time_base, 100, 100, 500
        out.mux(packet)
    caplog.set_level(logging.INFO, logger="streammm.media.captions")
    assert read_captions(pictures) == ()
    assert "its subtitles are pictures (dvdsub), not read" in caplog.text


@needs_media
def test_damaged_and_empty_cues_are_skipped_and_the_rest_kept(tmp_path: Path, caplog):
    """Bad input: an MP4 timed-text sample whose length prefix claims more bytes than it holds (read as what
    it holds, as FFmpeg does), a cue of only styling (no words: no line), a cue of invalid UTF-8 (the
    decoder refuses it: skipped, counted), between good ones. Many cues (a long film's worth, one every
    0.5 s) all come back."""
    caplog.set_level(logging.INFO, logger="streammm.media.captions")
    path = tmp_path / "damaged.mp4"
    many = [(0.5 * i, 0.5 * i + 0.4, f"cue number {i}") for i in range(2000)]
    with av.open(str(path), "w") as out:
        stream = add_subtitle_stream(out, "mov_text", "eng")
        out.mux(subtitle_packet(stream, 0.1, 0.3, "before the damage"))
        bad = av.Packet(b"\xff\xf0broken")
        bad.stream, bad.time_base, bad.pts, bad.dts, bad.duration = stream, stream.time_base, 400, 400, 100
        out.mux(bad)
        out.mux(subtitle_packet(stream, 0.45, 0.48, "{\\i1}{\\i0}"))
        invalid = av.Packet(b"\x00\x04\xc3\x28\xa0\xa1")
        invalid.stream, invalid.time_base, invalid.pts, invalid.dts, invalid.duration = stream, stream.time_base, 480, 480, 10
        out.mux(invalid)
        for a, b, text in many:
            out.mux(subtitle_packet(stream, a + 0.5, b + 0.5, text))
    lines = read_captions(path)
    texts = [line.text for line in lines]
    assert texts == ["before the damage", "broken", *(text for _, _, text in many)]
    assert all(line.end_s > line.start_s for line in lines)
    assert "skipped 1 damaged subtitle packets" in caplog.text


def test_a_subtitle_file_beside_the_video_is_read_counting_from_the_videos_start(tmp_path: Path):
    """`NAME.srt` beside `NAME.ts` (as players load it): the MPEG-TS file's clock starts at 1.4 s, and the
    subtitle file's 0 is the video's start, which is where the segments' timeline starts too. `NAME.srt` is
    preferred to `NAME.fr.srt`; with only a language-tagged one, that is read."""
    video = write_case(next(c for c in MATRIX if c.name == "ts_mpeg2_mp2"), tmp_path)
    assert start_time_s(video) > 1.0
    video.with_suffix(".fr.srt").write_text(srt_text([(1.0, 2.0, "le cerf-volant orange")]), encoding="utf-8")
    assert [(c.start_s, c.end_s, c.text) for c in read_captions(video)] == [(1.0, 2.0, "le cerf-volant orange")]
    video.with_suffix(".srt").write_text(srt_text([(1.0, 2.0, "the <i>orange</i> kite"), (2.5, 4.0, "over the harbour")]), encoding="utf-8")
    assert [(c.start_s, c.end_s, c.text) for c in read_captions(video)] == [(1.0, 2.0, "the orange kite"), (2.5, 4.0, "over the harbour")]
    first = next(iter(file_segments(str(video), "ts", 2.0)))
    assert first.start_s == 0.0 and first.captions[0].text == "the orange kite"


def test_a_subtitle_track_inside_the_file_comes_before_one_beside_it(tmp_path: Path):
    case = next(c for c in MATRIX if c.name == "mkv_odd_641x479")
    video = write_case(case, tmp_path)
    video.with_suffix(".srt").write_text(srt_text([(1.0, 2.0, "from the side")]), encoding="utf-8")
    assert [(c.start_s, c.end_s, c.text) for c in read_captions(video)] == list(CAPTIONS)


def test_bad_subtitle_files_beside_a_video_read_what_can_be_read(tmp_path: Path, caplog):
    """Bad input beside the video: an old SRT file in Windows-1252 (FFmpeg refuses text that is not UTF-8:
    read again as Windows-1252), then one of random bytes (no cues; the video is still segmented)."""
    caplog.set_level(logging.INFO, logger="streammm.media.captions")
    video = write_case(next(c for c in MATRIX if c.name == "mp4_one_keyframe"), tmp_path)
    video.with_suffix(".srt").write_bytes(srt_text([(0.5, 1.5, "Café crème brûlée"), (2.0, 3.0, "<i>naïve</i> résumé")]).encode("cp1252"))
    assert [c.text for c in read_captions(video)] == ["Café crème brûlée", "naïve résumé"]
    assert "read as Windows-1252" in caplog.text
    video.with_suffix(".srt").write_bytes(bytes(range(256)) * 40)
    assert read_captions(video) == ()
    assert sum(1 for _ in file_segments(str(video), "plain", 2.0)) >= 3


def test_a_webvtt_file_with_its_header_blocks_cue_settings_and_entities(tmp_path: Path):
    """What real WebVTT files hold besides cues (a BOM, NOTE and STYLE blocks, cue ids and settings, voice
    spans, entities), and cues that overlap: each cue's words over its own seconds."""
    video = write_case(next(c for c in MATRIX if c.name == "mp4_one_keyframe"), tmp_path)
    video.with_suffix(".en.vtt").write_text(
        "\ufeffWEBVTT\n\nNOTE written by hand\n\nSTYLE\n::cue { color: yellow }\n\n"
        "intro\n00:00:01.000 --> 00:00:02.500 align:start position:10%\n<v Roger>Tom &amp; Jerry &lt;3</v>\n\n"
        "00:02.600 --> 00:04.000\n<c.yellow>second</c> <b>cue</b>\n\n00:03.500 --> 00:05.000\noverlapping cue\n",
        encoding="utf-8",
    )
    assert [(c.start_s, c.end_s, c.text) for c in read_captions(video)] == [
        (1.0, 2.5, "Tom & Jerry <3"), (2.6, 4.0, "second cue"), (3.5, 5.0, "overlapping cue"),
    ]


def test_an_audio_file_with_subtitles_expects_their_text():
    """A podcast with its transcript beside it: its clips wait for the text as a video's wait for OCR."""
    assert IngestRun(has_video=False, has_audio=True, has_captions=True).expected == {"speech", "ocr"}
    assert IngestRun(has_video=False, has_audio=True).expected == {"speech"}
    assert IngestRun(has_video=True, has_audio=False, has_captions=True).expected == {"visual", "ocr"}
