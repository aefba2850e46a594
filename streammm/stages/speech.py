"""Speech stage: audio chunks of a stream to words, cut only where nobody is speaking.

Audio accumulates per stream until voice activity detection finds a pause that is safely before the
end of what has arrived. The model then hears the last `context_s` of earlier audio, everything that
has arrived, and emits only the words before that pause that it has not emitted already. So a word
that straddles a segment boundary is transcribed once, whole, at its media time, and hears the same
surroundings as in the whole file. If nobody pauses for `max_buffer_s`, the words that end well
before the newest audio are emitted instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from streammm.config import SpeechConfig
from streammm.models.base import Transcriber
from streammm.records import AudioChunk, Word

MAX_GAP_S = 1.0  # a jump in time larger than this starts a new buffer instead of padding silence


@dataclass(frozen=True, eq=False)
class SpeechState:
    """Audio received but not yet transcribed, and the transcribed audio just before it."""

    pending: AudioChunk | None = None
    context: AudioChunk | None = None
    emitted_until_s: float = float("-inf")  # the cut after the last emitted word: later words are new


def transcribe_step(
    state: SpeechState,
    chunk: AudioChunk | None,
    transcriber: Transcriber,
    options: SpeechConfig,
    *,
    final: bool = False,
) -> tuple[SpeechState, list[Word]]:
    """Add `chunk` (None: nothing new) and return the words that are now safe to emit."""
    words: list[Word] = []
    pending, context, emitted = state.pending, state.context, state.emitted_until_s
    if chunk is not None and pending is not None and chunk.start_s - pending.end_s > MAX_GAP_S:
        words += _transcribe(transcriber, context, pending, emitted)  # a discontinuity: finish what came before
        pending = context = None
    pending = append_audio(pending, chunk)
    if pending is None or len(pending.samples) == 0:
        return replace(state, pending=None, context=context), words
    if final:
        return SpeechState(), words + _transcribe(transcriber, context, pending, emitted)
    cut_s = pause_before_end(transcriber.speech_regions(pending), pending, options)
    if cut_s is None and pending.duration_s < options.max_buffer_s:
        return replace(state, pending=pending, context=context), words
    heard = _transcribe(transcriber, context, pending, emitted)
    if cut_s is not None:
        done = [w for w in heard if _middle(w) < cut_s]
    else:
        safe_until = pending.end_s - options.boundary_guard_s
        done = [w for w in heard if w.end_s <= safe_until]
        cut_s = done[-1].end_s if done else safe_until
    head, tail = split_audio(pending, cut_s)
    return (
        SpeechState(
            pending=tail,
            context=_last_seconds(append_audio(context, head), options.context_s),
            emitted_until_s=cut_s,
        ),
        words + done,
    )


def _transcribe(transcriber: Transcriber, context: AudioChunk | None, audio: AudioChunk, after_s: float) -> list[Word]:
    """Words of `audio` heard after `context` (which ends where `audio` starts), minus those already
    emitted: a word is new when its middle is past `after_s`, the cut that closed the last emission."""
    joined = append_audio(context, audio) if context is not None else audio
    assert joined is not None
    return [w for w in transcriber.transcribe(joined) if _middle(w) > after_s]


def _middle(word: Word) -> float:
    return (word.start_s + word.end_s) / 2


def _last_seconds(audio: AudioChunk | None, seconds: float) -> AudioChunk | None:
    if audio is None or seconds <= 0:
        return None
    if audio.duration_s <= seconds:
        return audio
    return split_audio(audio, audio.end_s - seconds)[1]


def pause_before_end(regions: list[tuple[float, float]], audio: AudioChunk, options: SpeechConfig) -> float | None:
    """The latest instant inside a pause that ends the speech before it, at least `boundary_guard_s`
    before the audio's end; None if there is none. With no speech at all, the guard point itself."""
    guard_end = audio.end_s - options.boundary_guard_s
    if not regions:
        return guard_end if guard_end > audio.start_s else None
    min_pause_s = options.min_silence_ms / 1000
    best = None
    for i, (_, speech_end) in enumerate(regions):
        next_start = regions[i + 1][0] if i + 1 < len(regions) else audio.end_s
        pause_s = next_start - speech_end
        cut = speech_end + min(pause_s / 2, 0.2)
        if pause_s >= min_pause_s and cut <= guard_end:
            best = cut
    return best


def append_audio(pending: AudioChunk | None, chunk: AudioChunk | None) -> AudioChunk | None:
    """`chunk` placed after `pending` by its media time: overlap dropped, a small gap filled with silence."""
    if chunk is None or len(chunk.samples) == 0:
        return pending
    rate = chunk.sample_rate
    if chunk.start_s < 0:  # a codec's priming samples before the stream's first instant
        chunk = AudioChunk(0.0, chunk.samples[int(round(-chunk.start_s * rate)) :], rate)
    if pending is None:
        return chunk
    offset = int(round((chunk.start_s - pending.end_s) * rate))
    samples = chunk.samples
    if offset < 0:
        samples = samples[-offset:]
    elif offset > 0:
        samples = np.concatenate([np.zeros(offset, dtype=np.float32), samples])
    return AudioChunk(pending.start_s, np.concatenate([pending.samples, samples]), rate)


def split_audio(audio: AudioChunk, at_s: float) -> tuple[AudioChunk, AudioChunk]:
    index = min(len(audio.samples), max(0, int(round((at_s - audio.start_s) * audio.sample_rate))))
    cut_s = audio.start_s + index / audio.sample_rate
    return (
        AudioChunk(audio.start_s, audio.samples[:index], audio.sample_rate),
        AudioChunk(round(cut_s, 6), audio.samples[index:], audio.sample_rate),
    )
