"""Speech stage: audio chunks of a stream to words, cut only where nobody is speaking.

Audio accumulates per stream until voice activity detection finds a pause that is safely before the
end of what has arrived; everything up to that pause is transcribed once and the rest waits for the
next chunk. So a word that straddles a segment boundary is transcribed once, whole, at its media time.
If nobody pauses for `max_buffer_s`, the words that end well before the buffer's end are emitted and
the audio after the last of them is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streammm.config import SpeechConfig
from streammm.models.base import Transcriber
from streammm.records import AudioChunk, Word

MAX_GAP_S = 1.0  # a jump in time larger than this starts a new buffer instead of padding silence


@dataclass(frozen=True, eq=False)
class SpeechState:
    """Audio received but not yet transcribed."""

    pending: AudioChunk | None = None


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
    pending = state.pending
    if chunk is not None and pending is not None and chunk.start_s - pending.end_s > MAX_GAP_S:
        words += transcriber.transcribe(pending)  # a discontinuity: finish what came before it
        pending = None
    pending = append_audio(pending, chunk)
    if pending is None or len(pending.samples) == 0:
        return SpeechState(), words
    if final:
        return SpeechState(), words + transcriber.transcribe(pending)
    cut_s = pause_before_end(transcriber.speech_regions(pending), pending, options)
    if cut_s is not None:
        head, tail = split_audio(pending, cut_s)
        return SpeechState(tail), words + transcriber.transcribe(head)
    if pending.duration_s < options.max_buffer_s:
        return SpeechState(pending), words
    heard = transcriber.transcribe(pending)
    safe_until = pending.end_s - options.boundary_guard_s
    done = [w for w in heard if w.end_s <= safe_until]
    cut_s = done[-1].end_s if done else safe_until
    return SpeechState(split_audio(pending, cut_s)[1]), words + done


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
