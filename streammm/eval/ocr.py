"""Character error rate of the configured OCR engine on reference document images.

The default set is `<shared media>/ocr`: every `NAME.png` with a `NAME.gt.txt` reference (so
`linn.png`, whose `linn.txt` is itself OCR output, is left out). Images go to the engine whole, as the
OCR stage hands it a frame (the engine scales anything larger than `models.ocr.max_side_px` down
first, as it does for video).

Reading order: the engine returns one box per line of text. Boxes whose vertical extents overlap by
more than half the smaller height are one row; rows are read top to bottom, boxes in a row left to
right (joined by a space), rows joined by newlines. That is the order the OCR stage keeps its lines in
(top, then left), made robust to two boxes of one line that sit a pixel apart vertically.

Both sides go through `streammm.eval.text.normalize_characters` (Unicode NFC, every run of whitespace,
line breaks included, as one space, ends trimmed). Case, punctuation and accents count, so "„" read as
'"' is an error. Overall CER is total character edits over total reference characters.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streammm.config import Settings
from streammm.errors import ConfigError
from streammm.eval.text import character_errors, error_rate
from streammm.models.base import TextBox


def reference_images(folder: Path) -> list[tuple[Path, str]]:
    """(image, reference text) for every `*.png` in `folder` that has a `.gt.txt` beside it."""
    if not folder.is_dir():
        raise ConfigError(f"reference image folder not found: {folder}")
    pairs = []
    for image in sorted(folder.glob("*.png")):
        truth = image.with_name(image.stem + ".gt.txt")
        if truth.is_file():
            pairs.append((image, truth.read_text(encoding="utf-8")))
    if not pairs:
        raise ConfigError(f"no reference images (NAME.png with NAME.gt.txt) in {folder}")
    return pairs


def reading_order(boxes: Sequence[TextBox]) -> str:
    """The text of `boxes` as lines: rows top to bottom, boxes within a row left to right."""
    rows: list[list[TextBox]] = []
    for box in sorted(boxes, key=lambda b: (b.box[1], b.box[0])):
        row = next((r for r in rows if _same_row(r[0], box)), None)
        if row is None:
            rows.append([box])
        else:
            row.append(box)
    return "\n".join(" ".join(b.text for b in sorted(row, key=lambda b: b.box[0])) for row in rows)


def evaluate_ocr(settings: Settings, folder: Path | None = None) -> dict[str, Any]:
    """Per-image and overall CER; `folder` defaults to the shared OCR test images."""
    import cv2

    from streammm.models.registry import create_ocr_engine
    from streammm.paths import shared_media

    folder = folder if folder is not None else shared_media() / "ocr"
    pairs = reference_images(folder)
    engine = create_ocr_engine(settings.models)
    images: list[dict[str, Any]] = []
    started = time.perf_counter()
    for n, (path, reference) in enumerate(pairs, start=1):
        print(f"ocr {n}/{len(pairs)}: {path.name}", file=sys.stderr)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ConfigError(f"cannot read image {path}")
        text = reading_order(engine.read(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        errors, reference_chars = character_errors(reference, text)
        images.append(
            {
                "file": path.name,
                "reference_chars": reference_chars,
                "errors": errors,
                "cer": error_rate(errors, reference_chars),
                "text": text,
            }
        )
    total_chars = sum(i["reference_chars"] for i in images)
    total_errors = sum(i["errors"] for i in images)
    return {
        "folder": str(folder),
        "images": images,
        "reference_chars": total_chars,
        "errors": total_errors,
        "cer": total_errors / total_chars if total_chars else 0.0,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _same_row(a: TextBox, b: TextBox) -> bool:
    shared = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
    return shared > 0.5 * min(a.box[3] - a.box[1], b.box[3] - b.box[1])
