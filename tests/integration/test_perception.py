"""Perception on the real dev media with the real bundled models."""

from __future__ import annotations

import re

import pytest

from streammm.eval.text import normalize_words, word_error_rate
from streammm.media.audio import load_audio
from streammm.media.segments import iter_segments
from streammm.stages.speech import SpeechState, transcribe_step

pytestmark = pytest.mark.integration
SLIDESHOW = "derived/narrated_slideshow.mp4"


def overlaps(span, start_s: float, end_s: float) -> bool:
    return span.start_s < end_s and span.end_s > start_s


def words_between(words, start_s: float, end_s: float) -> str:
    return " ".join(w.text for w in words if start_s - 0.3 <= (w.start_s + w.end_s) / 2 <= end_s + 0.3)


def test_transcript_has_each_utterance_with_low_word_error_rate(timelines, slideshow_truth):
    timeline = timelines(SLIDESHOW)
    errors = total = 0
    for utterance in slideshow_truth["utterances"]:
        heard = words_between(timeline.words, utterance["start"], utterance["end"])
        reference = normalize_words(utterance["text"])
        wer = word_error_rate(utterance["text"], heard)
        assert wer <= 0.25, f"{utterance['text']!r} heard as {heard!r}"
        errors += round(wer * len(reference))
        total += len(reference)
    assert errors / total <= 0.10


def test_utterance_is_placed_at_its_media_time(timelines):
    words = timelines(SLIDESHOW).words
    target = normalize_words("he was not an ill disposed young man")
    flat = [(n, w) for w in words for n in normalize_words(w.text)]
    names = [n for n, _ in flat]
    at = next(i for i in range(len(names)) if names[i : i + len(target)] == target)
    first, last = flat[at][1], flat[at + len(target) - 1][1]
    assert abs(first.start_s - 7.31) <= 0.5
    assert abs(last.end_s - 9.84) <= 0.5


def test_segment_by_segment_speech_matches_whole_file(perceiver, media, timelines, settings):
    whole = timelines(SLIDESHOW).words
    segments = list(iter_segments(media / SLIDESHOW, "slideshow", 2.0))
    assert len(segments) >= 3
    state, streamed = SpeechState(), []
    for segment in segments:
        chunk = load_audio(segment.data, offset_s=segment.start_s)
        state, words = transcribe_step(state, chunk, perceiver.models.transcriber, settings.models.speech, final=segment.last)
        streamed += words
    flat = lambda ws: [(n, w) for w in ws for n in normalize_words(w.text)]  # noqa: E731
    assert [n for n, _ in flat(streamed)] == [n for n, _ in flat(whole)]
    for (_, a), (_, b) in zip(flat(streamed), flat(whole)):
        assert abs(a.start_s - b.start_s) <= 0.3 and abs(a.end_s - b.end_s) <= 0.3, (a, b)


def test_short_segments_cut_mid_word_still_give_each_word_once(perceiver, media, timelines, settings):
    """Cut the audio every 1.3 s (inside words) and feed it through the stage: nothing cut, lost or doubled."""
    audio = load_audio(media / SLIDESHOW)
    rate, step = audio.sample_rate, 1.3
    from streammm.records import AudioChunk

    state, streamed = SpeechState(), []
    starts = [i * step for i in range(int(audio.duration_s / step) + 1)]
    for i, start in enumerate(starts):
        piece = AudioChunk(start, audio.samples[int(start * rate) : int((start + step) * rate)], rate)
        state, words = transcribe_step(state, piece, perceiver.models.transcriber, settings.models.speech, final=i == len(starts) - 1)
        streamed += words
    whole = [n for w in timelines(SLIDESHOW).words for n in normalize_words(w.text)]
    assert word_error_rate(" ".join(whole), " ".join(w.text for w in streamed)) <= 0.05


def test_ocr_reads_the_slide_counter_in_its_window(timelines):
    spans = [s for s in timelines(SLIDESHOW).ocr if "slide 3 of 5" in s.text.lower()]
    assert spans and any(overlaps(s, 10.0, 15.0) for s in spans)


def test_ocr_timecode_spans_line_up_with_media_time(timelines):
    spans = timelines("video/moviepy_timecode_example.mp4").ocr
    codes = [(s, s.text.replace(" ", "")) for s in spans if re.fullmatch(r"\d\d:\d\d:\d\d:\d\d", s.text.replace(" ", ""))]
    assert len(codes) >= 12
    seven = [s for s, text in codes if text == "00:00:07:00"]
    assert seven and seven[0].start_s <= 7.0 <= seven[0].end_s
    for span, text in codes:
        hh, mm, ss, ff = (int(x) for x in text.split(":"))
        assert abs(hh * 3600 + mm * 60 + ss + ff / 25 - span.start_s) <= 1.0, (text, span)


def test_ocr_finds_the_typed_command_and_the_mirror_checkbox(timelines):
    hello = timelines("video/movie-hello.mp4").ocr
    assert any("ls /usr" in s.text and overlaps(s, 3.7, 5.3) for s in hello)
    displays = timelines("video/display-dual-monitors.webm").ocr
    assert any("Mirror" in s.text and overlaps(s, 25.0, 29.0) for s in displays)


def test_frames_are_sampled_with_tags_and_unit_vectors(timelines):
    import numpy as np

    frames = timelines(SLIDESHOW).frames
    grid = [f.t_s for f in frames if not f.shot_change]
    assert grid[:5] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(abs(float(np.linalg.norm(f.vector)) - 1.0) < 1e-4 for f in frames)
    cat_frames = [f for f in frames if f.t_s < 5]
    assert any("cat" in tag for f in cat_frames for tag in f.tags)


def test_video_without_audio_has_no_words_but_frames_and_text(timelines):
    timeline = timelines("video/moviepy_timecode_example.mp4")
    assert timeline.words == () and timeline.frames and timeline.ocr
