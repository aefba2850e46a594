"""Create models by name from configuration; each is loaded once per process and then shared."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from streammm.config import ModelsConfig
from streammm.models.base import ImageEncoder, OcrEngine, TextEncoder, Transcriber
from streammm.models.runtime import configure_threads, torch_device

T = TypeVar("T")
log = logging.getLogger(__name__)
_loaded: dict[tuple[str, str], Any] = {}
_lock = threading.RLock()  # a build may create a model it depends on


@dataclass(frozen=True)
class Embedder:
    """A text and an image encoder that map into one space, and the version that names that space."""

    profile: str
    version: str
    text: TextEncoder
    image: ImageEncoder


def _once(kind: str, config: ModelsConfig | str, build: Callable[[], T]) -> T:
    key = (kind, config if isinstance(config, str) else config.model_dump_json())
    with _lock:
        if key not in _loaded:
            log.info("loading %s model", kind)
            _loaded[key] = build()
        return _loaded[key]  # type: ignore[no-any-return]


def create_transcriber(config: ModelsConfig) -> Transcriber:
    from streammm.models.speech import FasterWhisperTranscriber

    return _once("speech", config, lambda: FasterWhisperTranscriber(config.speech, device=config.device, threads=config.threads_per_call()))


def create_ocr_engine(config: ModelsConfig) -> OcrEngine:
    from streammm.models.ocr import RapidOcrEngine

    return _once("ocr", config, lambda: RapidOcrEngine(config.ocr, device=config.device, threads=config.threads_per_call()))


def create_text_encoder(config: ModelsConfig) -> TextEncoder:
    """The configured profile's text encoder alone, for what is stored (transcripts, on-screen text)."""
    return _text_encoder(config, config.text_runtime)


def create_question_encoder(config: ModelsConfig) -> TextEncoder:
    """The configured profile's text encoder for questions: the bundled profile's MiniLM under
    `question_runtime` (int8 weights by default; their vectors are compared with stored float ones)."""
    return _text_encoder(config, config.question_runtime)


def _text_encoder(config: ModelsConfig, runtime: str) -> TextEncoder:
    if config.embedding.profile == "bundled":
        runtime = runtime if config.device == "cpu" else "torch"  # ONNX Runtime here is CPU-only
        if runtime != "torch":
            from streammm.models.onnx_text import OnnxMiniLmTextEncoder

            int8 = runtime == "onnx-int8"
            return _once(f"text-{runtime}", str(config.threads_per_call()), lambda: OnnxMiniLmTextEncoder(int8=int8, threads=config.threads_per_call()))
        from streammm.models.text import MiniLmTextEncoder

        return _once("text", config.device, lambda: MiniLmTextEncoder(device=torch_device(config.device)))
    return create_embedder(config).text


def create_embedder(config: ModelsConfig) -> Embedder:
    return _once("embedding", config, lambda: _build_embedder(config))


def _build_embedder(config: ModelsConfig) -> Embedder:
    device = torch_device(config.device)
    configure_threads(config.threads_per_call())
    profile = config.embedding.profile
    if profile == "bundled":
        from streammm.models.bundled_vision import EfficientNetConseImageEncoder
        options = config.embedding.bundled
        text = create_text_encoder(config)
        image = EfficientNetConseImageEncoder(options, text, device=device)
        version = f"bundled-{options.vision_model}-minilm-v1"
        return Embedder(profile, version, text, image)
    from streammm.models.clip import OpenClipImageEncoder, OpenClipModel, OpenClipTextEncoder

    clip_options = config.embedding.clip
    model = OpenClipModel(clip_options, device=device)
    version = f"clip-{clip_options.arch}-{clip_options.pretrained.rsplit('/', 1)[-1]}-v1"
    return Embedder(profile, version, OpenClipTextEncoder(model), OpenClipImageEncoder(model))


class Models:
    """The models the settings name, each loaded on first use (or injected, e.g. by tests)."""

    def __init__(
        self,
        config: ModelsConfig,
        *,
        transcriber: Transcriber | None = None,
        ocr_engine: OcrEngine | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.config = config
        self._transcriber = transcriber
        self._ocr = ocr_engine
        self._embedder = embedder

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = create_transcriber(self.config)
        return self._transcriber

    @property
    def ocr_engine(self) -> OcrEngine:
        if self._ocr is None:
            self._ocr = create_ocr_engine(self.config)
        return self._ocr

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = create_embedder(self.config)
        return self._embedder

    def load_all(self) -> None:
        """Load every model now (they load lazily otherwise)."""
        _ = self.transcriber, self.ocr_engine, self.embedder
