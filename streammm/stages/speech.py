"""Speech stage: audio chunks of a stream to words, cut only where nobody is speaking.

Audio accumulates per stream until voice activity detection finds a pause that is safely before the
end of what has arrived. The model then hears a short overlap of earlier audio (`context_s`) and
everything that has arrived, and emits only the words before that pause that it has not emitted
already. So a word that straddles a segment boundary is transcribed once, whole, at its media time. If
nobody pauses for `max_buffer_s`, the words that end well before the newest audio are emitted instead.

What was said earlier reaches the model as text, not audio: the words emitted before the overlap (up
to `PROMPT_CHARS` characters) are its prompt, so it keeps names and spelling without decoding the
same seconds again and again. The prompt and the overlap are dropped at a discontinuity (a jump in
media time) and at the end of a stream. Audio with no speech at all (VAD on) is never given to the
model, so a prompt cannot be echoed into silence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from streammm.config import SpeechConfig
from streammm.models.base import Transcriber
from streammm.records import AudioChunk, Word

MAX_GAP_S = 1.0  # a jump in time larger than this starts a new buffer instead of padding silence
PROMPT_CHARS = 200  # the prompt: the last words said before the audio the model hears, up to this many characters


@dataclass(frozen=True, eq=False)
class SpeechState:
    """Audio received but not yet transcribed, and the transcribed audio just before it."""

    pending: AudioChunk | None = None
    context: AudioChunk | None = None  # the overlap: at most `context_s` of audio just before `pending`
    emitted_until_s: float = float("-inf")  # the cut after the last emitted word: later words are new
    said: tuple[Word, ...] = ()  # the last words emitted (those in the overlap and `PROMPT_CHARS` before)


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
    pending, context, emitted, said = state.pending, state.context, state.emitted_until_s, state.said
    if chunk is not None and pending is not None and chunk.start_s - pending.end_s > MAX_GAP_S:
        words += _transcribe(transcriber, context, pending, emitted, said)  # a discontinuity: finish what came before
        pending = context = None
        said = ()
    pending = append_audio(pending, chunk)
    if pending is None or len(pending.samples) == 0:
        return replace(state, pending=None, context=context, said=said), words
    if final:
        return SpeechState(), words + _transcribe(transcriber, context, pending, emitted, said)
    regions = transcriber.speech_regions(pending)
    cut_s = pause_before_end(regions, pending, options)
    if cut_s is None and pending.duration_s < options.max_buffer_s:
        return replace(state, pending=pending, context=context, said=said), words
    safe_until = pending.end_s - options.boundary_guard_s
    if not regions and options.vad:
        heard = []  # nobody spoke: nothing for the model to hear (nor to hallucinate from the prompt)
    else:
        heard = _transcribe(transcriber, context, pending, emitted, said, until_s=cut_s if cut_s is not None else safe_until)
    if cut_s is not None:
        done = [w for w in heard if _middle(w) < cut_s]
    else:
        done = [w for w in heard if w.end_s <= safe_until]
        cut_s = done[-1].end_s if done else safe_until
    head, tail = split_audio(pending, cut_s)
    context = _last_seconds(append_audio(context, head), options.context_s)
    return (
        SpeechState(
            pending=tail,
            context=context,
            emitted_until_s=cut_s,
            said=_recent(said + tuple(done), context.start_s if context is not None else tail.start_s, PROMPT_CHARS),
        ),
        words + done,
    )


def _transcribe(
    transcriber: Transcriber,
    context: AudioChunk | None,
    audio: AudioChunk,
    after_s: float,
    said: tuple[Word, ...],
    until_s: float | None = None,
) -> list[Word]:
    """Words of `audio` heard after `context` (which ends where `audio` starts), minus those already
    emitted: a word is new when its middle is past `after_s`, the cut that closed the last emission.
    The words said before `context` are the model's prompt; words from `until_s` on are not needed."""
    joined = append_audio(context, audio) if context is not None else audio
    assert joined is not None
    prompt = prompt_text(said, joined.start_s, PROMPT_CHARS)
    return [w for w in transcriber.transcribe(joined, prompt=prompt, until_s=until_s) if _middle(w) > after_s]


def prompt_text(said: tuple[Word, ...], before_s: float, max_chars: int) -> str:
    """The last words said before `before_s` (the start of the audio the model hears), as text of at most
    `max_chars` characters; whole words only."""
    return " ".join(w.text for w in _last_words(said, before_s, max_chars))


def _last_words(said: tuple[Word, ...], before_s: float, max_chars: int) -> tuple[Word, ...]:
    earlier = [w for w in said if _middle(w) < before_s]
    length, n = -1, 0
    for word in reversed(earlier):
        length += len(word.text) + 1
        if length > max_chars:
            break
        n += 1
    return tuple(earlier[len(earlier) - n :])


def _recent(said: tuple[Word, ...], overlap_start_s: float, max_chars: int) -> tuple[Word, ...]:
    """The words to keep for later prompts: the last `max_chars` characters' worth before the overlap,
    and those in it (a later overlap starts later, so they may come before it)."""
    if max_chars <= 0:
        return ()
    return _last_words(said, overlap_start_s, max_chars) + tuple(w for w in said if _middle(w) >= overlap_start_s)


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
