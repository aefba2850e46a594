"""Perception of one media file: the vision, OCR and speech stages over its frames and audio."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streammm.config import Settings, SpeechConfig
from streammm.media.audio import load_audio
from streammm.media.captions import read_captions
from streammm.errors import MediaError
from streammm.media.frames import FrameSampler
from streammm.media.probe import probe
from streammm.models.base import Transcriber
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.records import FrameObservation, Timeline, Word
from streammm.stages import ocr as ocr_stage
from streammm.stages.speech import SpeechState, transcribe_step
from streammm.stages.vision import observe_frames

log = logging.getLogger(__name__)
FRAME_BATCH = 8


Mark = tuple[float, float]  # (wall clock, process CPU clock) at some moment


def now() -> Mark:
    return time.perf_counter(), time.process_time()


@dataclass
class StageTimes:
    """Wall seconds and CPU seconds spent per stage, and what the OCR gate let through.

    CPU seconds are the whole process's (every thread: the decoder's and the models' own threads too), so
    they are one stage's cost only when stages run alone (perceive_file(parallel=False)).
    """

    decode_s: float = 0.0
    vision_s: float = 0.0
    ocr_s: float = 0.0
    speech_s: float = 0.0
    decode_cpu_s: float = 0.0
    vision_cpu_s: float = 0.0
    ocr_cpu_s: float = 0.0
    speech_cpu_s: float = 0.0
    frames: int = 0
    frames_ocr: int = 0
    area_ocr: float = 0.0

    def add(self, stage: str, since: Mark) -> Mark:
        """Count the wall and CPU seconds from `since` to now to `stage` ("decode", "vision", "ocr",
        "speech"); returns now."""
        wall, cpu = now()
        setattr(self, f"{stage}_s", getattr(self, f"{stage}_s") + wall - since[0])
        setattr(self, f"{stage}_cpu_s", getattr(self, f"{stage}_cpu_s") + cpu - since[1])
        return wall, cpu


class FilePerceiver:
    """Perceives whole media files (what `streammm inspect` shows) with the models in `models`."""

    def __init__(self, settings: Settings, models: Models | None = None) -> None:
        self.settings = settings
        self.models = models or Models(settings.models)

    def perceive_file(
        self, path: str | Path, *, progress: Callable[[float], None] | None = None, parallel: bool = True
    ) -> tuple[Timeline, StageTimes]:
        """The file's timeline; `progress` is called with the media time reached by the frame stages.

        Speech runs beside the frame stages unless `parallel` is off (benchmarks time stages alone).
        """
        settings = self.settings
        info = probe(path, max_file_mb=settings.media.max_file_mb)
        times = StageTimes()
        pool = InferencePool(1)
        try:
            words_future = pool.submit(self._speech, path, times, info.audio_codec) if info.has_audio and parallel else None
            try:
                frames, spans = self._frames(path, info.has_video, times, progress, info.duration_s)
            except MediaError as exc:
                raise MediaError(f"{path}: video ({info.video_codec}): {exc}") from None
            if words_future is not None:
                words = words_future.result()
            else:
                words = self._speech(path, times, info.audio_codec) if info.has_audio else []
        finally:
            pool.close()
        timeline = Timeline(
            media=str(path),
            duration_s=info.duration_s,
            words=tuple(words),
            ocr=tuple(sorted([*spans, *read_captions(path)], key=lambda s: (s.start_s, s.text))),
            frames=tuple(frames),
        )
        return timeline, times

    def _speech(self, path: str | Path, times: StageTimes, codec: str = "") -> list[Word]:
        started = now()
        try:
            words = transcribe_file(path, self.models.transcriber, self.settings.models.speech)
        except MediaError as exc:
            raise MediaError(f"{path}: audio ({codec}): {exc}") from None
        times.add("speech", started)
        return words

    def _frames(self, path, has_video, times, progress, duration_s=None):
        if not has_video:
            return [], []
        settings = self.settings
        observations: list[FrameObservation] = []
        ocr_state = ocr_stage.OcrState()
        spans = []
        batch = []
        last_t = 0.0
        started = now()
        frames = FrameSampler(settings.media).frames(
            path, key=str(path), max_side_px=settings.models.ocr.max_side_px, end_s=duration_s, strip=True
        )
        for frame in frames:
            batch.append(frame)
            if len(batch) == FRAME_BATCH:
                times.add("decode", started)
                ocr_state, closed = self._frame_batch(batch, ocr_state, observations, times)
                spans += closed
                last_t = batch[-1].t_s
                if progress:
                    progress(last_t)
                batch = []
                started = now()
        times.add("decode", started)
        if batch:
            ocr_state, closed = self._frame_batch(batch, ocr_state, observations, times)
            spans += closed
            last_t = batch[-1].t_s
        end_s = max(last_t + 1 / settings.media.sample_fps, last_t)
        spans += ocr_stage.finish(ocr_state, end_s, 1 / settings.media.sample_fps)
        times.frames, times.frames_ocr, times.area_ocr = ocr_state.frames, ocr_state.frames_read, ocr_state.area_read
        if progress:
            progress(last_t)
        return observations, spans

    def _frame_batch(self, batch, ocr_state, observations, times):
        started = now()
        observations += observe_frames(batch, self.models.embedder.image, self.settings.media.same_frame_diff)
        started = times.add("vision", started)
        ocr_state, closed = ocr_stage.read_step(ocr_state, batch, self.models.ocr_engine, self.settings.models.ocr)
        times.add("ocr", started)
        return ocr_state, closed


def transcribe_file(path: str | Path, transcriber: Transcriber, options: SpeechConfig) -> list[Word]:
    """The words of a whole file's first audio stream (none when it has no audio): the speech stage with
    everything arrived at once, as `streammm inspect` and `streammm eval asr` hear a file."""
    audio = load_audio(path)
    if audio is None:
        return []
    _, words = transcribe_step(SpeechState(), audio, transcriber, options, final=True)
    return words
