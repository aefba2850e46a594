"""The speech stage's buffering logic, with a scripted transcriber (the real model is in integration)."""

import numpy as np
import pytest

from streammm.config import SpeechConfig
from streammm.records import AudioChunk, Word
from streammm.stages.speech import SpeechState, append_audio, pause_before_end, split_audio, transcribe_step

RATE = 16_000


def chunk(start_s: float, duration_s: float) -> AudioChunk:
    return AudioChunk(start_s, np.ones(int(round(duration_s * RATE)), dtype=np.float32), RATE)


class ScriptedSpeech:
    """Speech between fixed media-time spans; each span transcribes as one word named for its start."""

    def __init__(self, spans):
        self.spans = spans
        self.calls: list[tuple[float, float]] = []

    def speech_regions(self, audio):
        return [(max(s, audio.start_s), min(e, audio.end_s)) for s, e in self.spans if s < audio.end_s and e > audio.start_s]

    def transcribe(self, audio):
        self.calls.append((audio.start_s, audio.end_s))
        return [Word(s, e, f"w{s:g}") for s, e in self.spans if audio.start_s <= (s + e) / 2 < audio.end_s]


def test_append_places_audio_by_media_time():
    joined = append_audio(chunk(0.0, 1.0), chunk(0.9, 1.0))  # 0.1 s overlap dropped
    assert joined.duration_s == pytest.approx(1.9)
    padded = append_audio(chunk(0.0, 1.0), chunk(1.5, 0.5))  # 0.5 s gap filled with silence
    assert padded.duration_s == pytest.approx(2.0)
    assert padded.samples[int(1.2 * RATE)] == 0.0
    primed = append_audio(None, chunk(-0.064, 1.0))  # codec priming before the stream's start
    assert primed.start_s == 0.0 and primed.duration_s == pytest.approx(0.936)


def test_split_audio_keeps_every_sample():
    head, tail = split_audio(chunk(2.0, 3.0), 3.25)
    assert head.end_s == pytest.approx(3.25) and tail.start_s == pytest.approx(3.25)
    assert len(head.samples) + len(tail.samples) == 3 * RATE


def test_pause_must_be_long_enough_and_clear_of_the_end():
    options = SpeechConfig(min_silence_ms=300, boundary_guard_s=1.0)
    audio = chunk(0.0, 6.0)
    assert pause_before_end([(0.5, 2.0), (2.1, 4.0)], audio, options) == pytest.approx(4.2)
    assert pause_before_end([(0.5, 2.0), (2.5, 5.5)], audio, options) == pytest.approx(2.2)
    assert pause_before_end([(0.5, 5.8)], audio, options) is None
    assert pause_before_end([], audio, options) == pytest.approx(5.0)


def test_words_straddling_segment_boundaries_are_transcribed_once_and_whole():
    spans = [(0.3, 1.4), (1.7, 2.6), (3.1, 4.7), (5.5, 6.2)]  # 1.7-2.6 and 3.1-4.7 straddle 2 s and 4 s
    speech = ScriptedSpeech(spans)
    options = SpeechConfig(min_silence_ms=300, boundary_guard_s=0.5)
    state, words, cuts = SpeechState(), [], []
    for i in range(4):
        state, new = transcribe_step(state, chunk(2.0 * i, 2.0), speech, options, final=(i == 3))
        words += new
        cuts.append(state.emitted_until_s)
    assert [(w.start_s, w.end_s) for w in words] == spans
    for cut in cuts[:-1]:  # every cut fell in a pause, never inside a word
        assert not any(s < cut < e for s, e in spans)


def test_the_model_hears_earlier_audio_as_context_without_repeating_its_words():
    spans = [(0.3, 1.4), (2.1, 2.9), (4.5, 5.2)]
    speech = ScriptedSpeech(spans)
    options = SpeechConfig(min_silence_ms=300, boundary_guard_s=0.5, context_s=10.0)
    state, words = SpeechState(), []
    for i in range(3):
        state, new = transcribe_step(state, chunk(2.0 * i, 2.0), speech, options, final=(i == 2))
        words += new
    assert [w.text for w in words] == ["w0.3", "w2.1", "w4.5"]
    assert speech.calls[-1][0] == 0.0  # the last call started at the stream's start: context re-fed


def test_long_speech_without_pause_is_emitted_after_max_buffer():
    spans = [(i * 0.5, i * 0.5 + 0.45) for i in range(60)]  # 30 s of words 50 ms apart: no usable pause
    speech = ScriptedSpeech(spans)
    options = SpeechConfig(min_silence_ms=300, boundary_guard_s=1.0, max_buffer_s=6.0)
    state, words = SpeechState(), []
    for i in range(15):
        state, new = transcribe_step(state, chunk(2.0 * i, 2.0), speech, options, final=(i == 14))
        words += new
    assert [(w.start_s, w.end_s) for w in words] == spans  # each once, in order


def test_a_jump_in_time_flushes_what_came_before():
    speech = ScriptedSpeech([(0.2, 0.9), (100.2, 100.8)])
    options = SpeechConfig(min_silence_ms=300, boundary_guard_s=1.0)
    state, first = transcribe_step(SpeechState(), chunk(0.0, 1.0), speech, options)
    state, second = transcribe_step(state, chunk(100.0, 1.0), speech, options, final=True)
    assert [w.text for w in first + second] == ["w0.2", "w100.2"]


def test_word_stretched_into_silence_is_trimmed_to_the_speech_region():
    from streammm.models.speech import snap_to_speech

    words = [Word(20.8, 21.16, "was."), Word(21.16, 21.86, "He"), Word(21.86, 22.18, "might")]
    snapped = snap_to_speech(words, [(20.0, 21.2), (21.63, 23.0)])
    assert [(w.start_s, w.end_s) for w in snapped] == [(20.8, 21.16), (21.63, 21.86), (21.86, 22.18)]
    assert snap_to_speech(words, []) == words
