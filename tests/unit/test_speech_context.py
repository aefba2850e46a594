"""The speech stage carries earlier speech as text (the prompt) and only a short audio overlap.

A recording transcriber stands in for Whisper: it says which audio and which prompt each call got. The
last test runs the real bundled model on the dev media.
"""

from __future__ import annotations

import numpy as np
import pytest

from streammm.config import SpeechConfig
from streammm.records import AudioChunk, Word
from streammm.stages import speech as stage
from streammm.stages.speech import MAX_GAP_S, PROMPT_CHARS, SpeechState, prompt_text, transcribe_step

RATE = 16_000


def chunk(start_s: float, duration_s: float) -> AudioChunk:
    return AudioChunk(start_s, np.ones(int(round(duration_s * RATE)), dtype=np.float32), RATE)


class RecordingSpeech:
    """Speech over fixed media-time spans, one word per span, named for its start; a call yields the words
    whose middle lies in the audio it was given, and is recorded as (start_s, end_s, prompt)."""

    def __init__(self, spans):
        self.spans = spans
        self.calls: list[tuple[float, float, str]] = []

    def speech_regions(self, audio):
        return [(max(s, audio.start_s), min(e, audio.end_s)) for s, e in self.spans if s < audio.end_s and e > audio.start_s]

    def transcribe(self, audio, prompt="", until_s=None):
        self.calls.append((audio.start_s, audio.end_s, prompt))
        return [Word(s, e, f"w{s:g}") for s, e in self.spans if audio.start_s <= (s + e) / 2 < audio.end_s]


def run(speech, options, pieces):
    """Feed (start_s, duration_s) pieces through the stage; the words, and the states after each step."""
    state, words, states = SpeechState(), [], []
    for i, (start, duration) in enumerate(pieces):
        state, new = transcribe_step(state, chunk(start, duration), speech, options, final=i == len(pieces) - 1)
        words += new
        states.append(state)
    return words, states


# One word a second, with a pause after every third: [0.2, 0.8], [1.2, 1.8], [2.2, 2.8], pause, [4.2, 4.8] ...
SPANS = [(t + 0.2, t + 0.8) for t in range(30) if t % 4 != 3]
OPTIONS = SpeechConfig(min_silence_ms=300, boundary_guard_s=0.5, context_s=1.5)
STREAMING_OVERLAP_S = 2.5  # the overlap measured for live streams: WER as with 20 s, about 40 % less speech CPU


def test_the_prompt_carries_the_words_said_before_the_overlap():
    speech = RecordingSpeech(SPANS)
    words, _ = run(speech, OPTIONS, [(2.0 * i, 2.0) for i in range(15)])
    assert [(w.start_s, w.end_s) for w in words] == SPANS
    assert speech.calls[0][2] == ""  # a new stream has nothing before it
    for start, _, prompt in speech.calls[1:]:
        before = [w.text for w in words if (w.start_s + w.end_s) / 2 < start]
        expected = before[:]
        while len(" ".join(expected)) > PROMPT_CHARS:
            expected.pop(0)
        assert prompt == " ".join(expected), "the last words said before the audio heard, whole, in order"
    assert any(len(prompt.split()) >= 5 for _, _, prompt in speech.calls), "the prompt grows as words are said"


def test_the_prompt_never_holds_words_the_model_hears_again_in_the_overlap():
    speech = RecordingSpeech(SPANS)
    run(speech, OPTIONS, [(2.0 * i, 2.0) for i in range(15)])
    for start, _, prompt in speech.calls:
        for text in prompt.split():
            s = float(text[1:])
            assert s + 0.3 < start, f"{text} is in the audio from {start} and in the prompt"


def test_the_prompt_is_bounded_to_whole_words(monkeypatch):
    said = tuple(Word(float(i), i + 0.5, f"word{i}") for i in range(100))
    text = prompt_text(said, 1000.0, 60)
    assert len(text) <= 60 and text.split() == [f"word{i}" for i in range(100 - len(text.split()), 100)]
    assert prompt_text(said, 1000.0, 0) == ""
    assert prompt_text(said, 10.0, 200).split()[-1] == "word9"  # only words before the audio heard
    monkeypatch.setattr(stage, "PROMPT_CHARS", 20)
    speech = RecordingSpeech(SPANS)
    run(speech, OPTIONS, [(2.0 * i, 2.0) for i in range(15)])
    assert 0 < max(len(p) for _, _, p in speech.calls) <= 20


def test_a_discontinuity_resets_the_prompt_and_the_overlap():
    spans = [(0.2, 0.8), (1.2, 1.8), (2.2, 2.8), (4.2, 4.8), (5.2, 5.8), (100.2, 100.8), (101.2, 101.8), (103.2, 103.8)]
    speech = RecordingSpeech(spans)
    pieces = [(0.0, 2.0), (2.0, 2.0), (4.0, 2.0), (100.0, 2.0), (102.0, 2.0)]
    assert pieces[3][0] - (pieces[2][0] + pieces[2][1]) > MAX_GAP_S
    words, states = run(speech, OPTIONS, pieces)
    assert [(w.start_s, w.end_s) for w in words] == spans
    after_jump = [c for c in speech.calls if c[1] > 99.0]
    assert after_jump and after_jump[0][0] >= 100.0, "no audio from before the jump is heard again"
    assert after_jump[0][2] == "", "nor is what was said before the jump the prompt"
    assert any(c[2] for c in speech.calls if c[1] < 99.0), "before the jump there was a prompt"
    assert states[-1].said == () and states[-1].pending is None  # the end of a stream forgets it all


def test_a_new_stream_starts_without_a_prompt():
    speech = RecordingSpeech(SPANS)
    run(speech, OPTIONS, [(2.0 * i, 2.0) for i in range(6)])
    first = len(speech.calls)
    run(speech, OPTIONS, [(2.0 * i, 2.0) for i in range(6)])
    assert speech.calls[first][2] == ""


@pytest.mark.parametrize("context_s", [0.0, 0.5, 2.5])
def test_a_word_straddling_a_segment_boundary_is_emitted_once_and_whole(context_s):
    spans = [(0.3, 1.4), (1.7, 2.6), (3.1, 4.7), (5.5, 6.2), (7.6, 8.4), (9.9, 10.3)]  # 2, 4, 8 and 10 s fall inside words
    speech = RecordingSpeech(spans)
    options = SpeechConfig(min_silence_ms=300, boundary_guard_s=0.5, context_s=context_s)
    words, states = run(speech, options, [(2.0 * i, 2.0) for i in range(6)])
    assert [(w.start_s, w.end_s) for w in words] == spans
    for state in states[:-1]:
        assert not any(s < state.emitted_until_s < e for s, e in spans), "every cut fell in a pause"


def test_the_model_never_hears_more_than_the_overlap_and_the_pending_audio():
    speech = RecordingSpeech(SPANS)
    options = SpeechConfig(min_silence_ms=300, boundary_guard_s=0.5, context_s=1.5, max_buffer_s=6.0)
    state = SpeechState()
    pieces = [(1.3 * i, 1.3) for i in range(23)]  # cut inside words, never on a segment grid
    for i, (start, duration) in enumerate(pieces):
        piece = chunk(start, duration)
        pending_start = state.pending.start_s if state.pending is not None else piece.start_s
        before = len(speech.calls)
        state, _ = transcribe_step(state, piece, speech, options, final=i == len(pieces) - 1)
        for call_start, call_end, _ in speech.calls[before:]:
            assert call_start >= pending_start - options.context_s - 1e-6
            assert call_end - call_start <= options.context_s + (piece.end_s - pending_start) + 1e-6
        if state.context is not None:
            assert state.context.duration_s <= options.context_s + 1e-6
    assert len(speech.calls) >= 5


def test_silence_is_not_given_to_the_model_with_a_prompt():
    speech = RecordingSpeech([(0.2, 0.8), (1.2, 1.8)])  # then nobody speaks for a minute
    options = SpeechConfig(min_silence_ms=300, boundary_guard_s=0.5, context_s=2.0)
    words, _ = run(speech, options, [(2.0 * i, 2.0) for i in range(30)])
    assert [w.text for w in words] == ["w0.2", "w1.2"]
    assert len(speech.calls) <= 3, "no call for audio without speech (only the words, and the final flush)"


@pytest.mark.integration
def test_five_second_chunks_give_the_whole_file_words_with_the_real_model(media):
    """The bundled model on the narrated slideshow: fed in 5 s pieces with the short overlap and the
    prompt, the words are those of the file transcribed whole."""
    from streammm.config import load_settings
    from streammm.eval.text import normalize_words, word_error_rate
    from streammm.media.audio import load_audio
    from streammm.models.registry import create_transcriber

    models = load_settings(env={}).models
    transcriber = create_transcriber(models)
    options = models.speech.model_copy(update={"context_s": STREAMING_OVERLAP_S})
    audio = load_audio(media / "derived" / "narrated_slideshow.mp4")
    _, whole = transcribe_step(SpeechState(), audio, transcriber, options, final=True)
    state, streamed, step = SpeechState(), [], 5.0
    starts = [i * step for i in range(int(np.ceil(audio.duration_s / step)))]
    for i, start in enumerate(starts):
        piece = AudioChunk(start, audio.samples[int(start * RATE) : int((start + step) * RATE)], RATE)
        state, words = transcribe_step(state, piece, transcriber, options, final=i == len(starts) - 1)
        streamed += words
    whole_text = " ".join(n for w in whole for n in normalize_words(w.text))
    assert len(whole_text.split()) >= 60
    assert word_error_rate(whole_text, " ".join(w.text for w in streamed)) <= 0.05
    assert all(a.end_s <= b.start_s + 0.05 for a, b in zip(streamed, streamed[1:])), "in order, none twice"
