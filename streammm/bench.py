"""Benchmarks: print what each stage costs on real media (numbers, never pass/fail)."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from streammm.config import Settings
from streammm.paths import shared_media

PERCEPTION_MEDIA = ("derived/narrated_slideshow.mp4", "video/display-dual-monitors.webm")


def run_perception_bench(settings: Settings, media: list[str] | None = None) -> dict[str, Any]:
    """Real-time factor per stage (media seconds per wall second), OCR gate share, and peak memory."""
    from streammm.perception import Perceiver

    files = [Path(m) for m in media] if media else [shared_media() / m for m in PERCEPTION_MEDIA]
    perceiver = Perceiver(settings)
    started = time.perf_counter()
    perceiver.load_models()
    load_s = time.perf_counter() - started
    rows = []
    for path in files:
        started = time.perf_counter()
        timeline, times = perceiver.perceive_file(path)
        wall_s = time.perf_counter() - started
        duration = timeline.duration_s
        rows.append(
            {
                "media": path.name,
                "duration_s": round(duration, 2),
                "wall_s": round(wall_s, 2),
                "inspect_x": _ratio(duration, wall_s),
                "decode_x": _ratio(duration, times.decode_s),
                "vision_x": _ratio(duration, times.vision_s),
                "ocr_x": _ratio(duration, times.ocr_s),
                "speech_x": _ratio(duration, times.speech_s) if timeline.words or times.speech_s else None,
                "frames": times.frames,
                "ocr_frames_pct": round(100 * times.frames_ocr / max(times.frames, 1), 1),
                "ocr_area_pct": round(100 * times.area_ocr / max(times.frames, 1), 1),
                "words": len(timeline.words),
                "ocr_spans": len(timeline.ocr),
            }
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "bench": "perception",
        "device": settings.models.device,
        "profile": settings.models.embedding.profile,
        "model_load_s": round(load_s, 2),
        "peak_rss_mb": round(peak_mb),
        "rows": rows,
    }
    _print_table(result)
    return result


def _ratio(media_s: float, wall_s: float) -> float | None:
    return round(media_s / wall_s, 1) if wall_s > 0 else None


def _print_table(result: dict[str, Any]) -> None:
    columns = ["media", "duration_s", "wall_s", "inspect_x", "decode_x", "vision_x", "ocr_x", "speech_x", "ocr_frames_pct", "ocr_area_pct"]
    print(f"perception on {result['device']} ({result['profile']} profile); real-time factors are media s / wall s")
    print(" | ".join(columns))
    for row in result["rows"]:
        print(" | ".join("-" if row[c] is None else str(row[c]) for c in columns))
    print(f"model load {result['model_load_s']} s; peak memory {result['peak_rss_mb']} MB")
