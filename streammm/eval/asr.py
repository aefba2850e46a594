"""Word error rate of the configured transcriber on reference recordings.

The default set is the five LibriVox clips in `<shared media>/audio/librivox`: each `NAME.wav` has its
reference transcript in `NAME.txt` (one line, lower case, no punctuation). Each file is transcribed
whole by `streammm.perception.transcribe_file`, as `streammm inspect` does (the speech stage with
VAD and word timestamps on), so the figure is that of the product, not of a bare model call.

Both sides go through `streammm.eval.text.normalize_words` (lower case, punctuation dropped, "Mr." read
as "mister", hyphenated words split). Overall WER is total word errors over total reference words, so
long clips weigh more than short ones.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from streammm.config import Settings
from streammm.errors import ConfigError
from streammm.eval.text import error_rate, word_errors


def reference_clips(folder: Path) -> list[tuple[Path, str]]:
    """(audio file, reference text) for every `*.wav` in `folder` that has a `.txt` beside it."""
    if not folder.is_dir():
        raise ConfigError(f"reference audio folder not found: {folder}")
    clips = [
        (wav, wav.with_suffix(".txt").read_text(encoding="utf-8").strip())
        for wav in sorted(folder.glob("*.wav"))
        if wav.with_suffix(".txt").is_file()
    ]
    if not clips:
        raise ConfigError(f"no reference clips (NAME.wav with NAME.txt) in {folder}")
    return clips


def evaluate_asr(settings: Settings, folder: Path | None = None) -> dict[str, Any]:
    """Per-file and overall WER; `folder` defaults to the shared LibriVox clips."""
    from streammm.models.registry import create_transcriber
    from streammm.paths import shared_media
    from streammm.perception import transcribe_file

    folder = folder if folder is not None else shared_media() / "audio" / "librivox"
    clips = reference_clips(folder)
    transcriber = create_transcriber(settings.models)
    files: list[dict[str, Any]] = []
    started = time.perf_counter()
    for n, (wav, reference) in enumerate(clips, start=1):
        print(f"asr {n}/{len(clips)}: {wav.name}", file=sys.stderr)
        words = transcribe_file(wav, transcriber, settings.models.speech)
        hypothesis = " ".join(w.text for w in words)
        errors, reference_words = word_errors(reference, hypothesis)
        files.append(
            {
                "file": wav.name,
                "reference": reference,
                "hypothesis": hypothesis,
                "reference_words": reference_words,
                "errors": errors,
                "wer": error_rate(errors, reference_words),
            }
        )
    total_words = sum(f["reference_words"] for f in files)
    total_errors = sum(f["errors"] for f in files)
    return {
        "model": settings.models.speech.model,
        "folder": str(folder),
        "files": files,
        "reference_words": total_words,
        "errors": total_errors,
        "wer": total_errors / total_words if total_words else 0.0,
        "seconds": round(time.perf_counter() - started, 1),
    }
