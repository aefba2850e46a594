"""On-screen text with RapidOCR: PP-OCR ONNX models shipped inside the wheel, run by onnxruntime.

Detection and recognition are separate calls, so that the OCR stage can recognise only the lines
that are new. Detection runs at the scale the whole frame would be detected at, also for a band cut
from it: a thin band is not blown up to the detector's minimum side.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from streammm.config import OcrConfig
from streammm.errors import ModelError
from streammm.models.base import Box, TextBox, crop_box

log = logging.getLogger(__name__)

DET_MIN_SIDE_PX = 736  # the PP-OCR detector's own rule: a frame's shorter side is scaled up to this
DET_MAX_SIDE_PX = 2000


class RapidOcrEngine:
    """OcrEngine over rapidocr 3.x; large frames are scaled down to `max_side_px` first."""

    def __init__(self, options: OcrConfig, *, device: str = "cpu", threads: int = 2) -> None:
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # not a warning per frame without text
        from rapidocr import RapidOCR

        params: dict[str, object] = {
            "Global.log_level": "error",
            "Global.text_score": options.min_score,
            "Global.use_cls": False,  # screen text is upright; the angle classifier costs ~10 % per line
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        }
        if device == "cuda":
            import onnxruntime

            if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
                params["EngineConfig.onnxruntime.use_cuda"] = True
            else:
                log.warning("OCR runs on the CPU: this onnxruntime build has no CUDA provider (install onnxruntime-gpu)")
        try:
            engine = RapidOCR(params=params)
            self._detector = engine._load_det_model()  # noqa: SLF001 -- the public call always rescales to the detector's minimum side
            self._recognizer = engine._load_rec_model()  # noqa: SLF001
        except Exception as exc:  # rapidocr raises bare exceptions for missing model files
            raise ModelError(f"cannot load the RapidOCR models: {exc}") from exc
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self.options = options

    def read(self, image: np.ndarray) -> list[TextBox]:
        boxes = self.detect(image)
        crops = [crop_box(image, box) for box in boxes]
        lines = []
        for box, (text, score) in zip(boxes, self.recognize(crops)):
            if text and score >= self.options.min_score:
                lines.append(TextBox(text, score, box))
        return lines

    def detect(self, image: np.ndarray, frame_size: tuple[int, int] | None = None) -> list[Box]:
        """Boxes (x0, y0, x1, y1) of the text lines in an RGB image, top to bottom.

        `image` may be a band cut from a frame of `frame_size` (width, height): it is detected at the
        scale the whole frame would be.
        """
        import cv2

        height, width = image.shape[:2]
        if min(height, width) < 2:
            return []
        scale = self.detect_scale(frame_size or (width, height))
        size = (max(32, round(width * scale / 32) * 32), max(32, round(height * scale / 32) * 32))
        resized = cv2.resize(np.ascontiguousarray(image[:, :, ::-1]), size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        tensor = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        quads, _ = self._detector.postprocess_op(self._detector.session(tensor), (height, width))
        boxes = [(float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())) for q in quads]
        return sorted((b for b in boxes if b[2] > b[0] and b[3] > b[1]), key=lambda b: (b[1], b[0]))

    def detect_scale(self, frame_size: tuple[int, int]) -> float:
        """Frames over `max_side_px` are scaled down; then a short side under the detector's minimum up."""
        width, height = frame_size
        scale = min(1.0, self.options.max_side_px / max(width, height))
        scale *= max(1.0, DET_MIN_SIDE_PX / (min(width, height) * scale))
        return min(scale, DET_MAX_SIDE_PX / max(width, height))

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """(text, score) of each RGB crop of one line, in one batched call."""
        usable = [i for i, c in enumerate(crops) if c.ndim == 3 and min(c.shape[:2]) >= 2]
        read: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        if not usable:
            return read
        from rapidocr.ch_ppocr_rec import TextRecInput

        output = self._recognizer(TextRecInput(img=[np.ascontiguousarray(crops[i][:, :, ::-1]) for i in usable]))
        for i, text, score in zip(usable, output.txts, output.scores):
            read[i] = (" ".join(str(text).split()), float(score))
        return read

