"""The `clip` profile: open_clip image and text towers sharing one space (a hub tag or a local checkpoint)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streammm.config import ClipProfileConfig
from streammm.errors import ModelError
from streammm.models.base import VisualBatch, unit_rows
from streammm.models.imagenet import class_names, class_prompts

TAG_COUNT = 5
TAG_MIN_PROB = 0.1


class OpenClipModel:
    """Loads an open_clip model once; the text and image encoders below share it."""

    def __init__(self, options: ClipProfileConfig, *, device: str = "cpu") -> None:
        import open_clip
        import torch

        self.options = options
        self.device = device
        self.torch = torch
        pretrained = options.pretrained
        if ("/" in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors"))) and not Path(pretrained).is_file():
            raise ModelError(f"clip checkpoint not found: {pretrained}")
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(options.arch, pretrained=pretrained, device=device)
            self.tokenizer = open_clip.get_tokenizer(options.arch)
        except Exception as exc:  # open_clip raises RuntimeError/HF errors/OSError depending on the source
            raise ModelError(
                f"cannot load open_clip {options.arch} with pretrained={pretrained!r}: {exc}. "
                "Offline machines need a local checkpoint file in models.embedding.clip.pretrained."
            ) from exc
        self.model = model.eval()
        self.preprocess = preprocess
        self.dim = int(model.text_projection.shape[1]) if hasattr(model, "text_projection") else int(model.visual.output_dim)
        self.lock = threading.Lock()

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self.tokenizer(list(texts)).to(self.device)
        with self.torch.inference_mode():
            out = self.model.encode_text(tokens)
        return unit_rows(out.float().cpu().numpy())

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        from PIL import Image

        batch = self.torch.stack([self.preprocess(Image.fromarray(img)) for img in images]).to(self.device)
        with self.torch.inference_mode():
            out = self.model.encode_image(batch)
        return unit_rows(out.float().cpu().numpy())


class OpenClipTextEncoder:
    def __init__(self, model: OpenClipModel) -> None:
        self._model = model
        self.dim = model.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode_text(texts)


class OpenClipImageEncoder:
    """ImageEncoder for the `clip` profile; tags are zero-shot ImageNet classes."""

    def __init__(self, model: OpenClipModel) -> None:
        self._model = model
        self.dim = model.dim
        self._class_vectors: np.ndarray | None = None

    def encode(self, images: Sequence[np.ndarray]) -> VisualBatch:
        if not images:
            return VisualBatch(np.zeros((0, self.dim), dtype=np.float32), [])
        vectors = self._model.encode_images(images)
        if self._class_vectors is None:
            self._class_vectors = self._model.encode_text(class_prompts())
        logits = 100.0 * vectors @ self._class_vectors.T
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        names = class_names()
        tags = [
            tuple(names[i] for i in np.argsort(-row)[:TAG_COUNT] if row[i] >= TAG_MIN_PROB) for row in probs
        ]
        return VisualBatch(vectors, tags)
