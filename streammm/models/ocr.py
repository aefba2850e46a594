"""On-screen text with RapidOCR: PP-OCR ONNX models shipped inside the wheel, run by onnxruntime."""

from __future__ import annotations

import logging

import numpy as np

from streammm.config import OcrConfig
from streammm.errors import ModelError
from streammm.models.base import TextBox

log = logging.getLogger(__name__)


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
            self._engine = RapidOCR(params=params)
        except Exception as exc:  # rapidocr raises bare exceptions for missing model files
            raise ModelError(f"cannot load the RapidOCR models: {exc}") from exc
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # not a warning per frame without text
        self.options = options

    def read(self, image: np.ndarray) -> list[TextBox]:
        import cv2

        scale = 1.0
        longest = max(image.shape[:2])
        if longest > self.options.max_side_px:
            scale = self.options.max_side_px / longest
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        # RapidOCR follows OpenCV and expects BGR.
        result = self._engine(np.ascontiguousarray(image[:, :, ::-1]))
        if result.txts is None or result.boxes is None:
            return []
        lines = []
        for text, score, box in zip(result.txts, result.scores, result.boxes):
            text = " ".join(str(text).split())
            if not text or float(score) < self.options.min_score:
                continue
            xs, ys = np.asarray(box)[:, 0] / scale, np.asarray(box)[:, 1] / scale
            lines.append(TextBox(text, float(score), (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))))
        return lines
