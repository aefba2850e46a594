"""Presenting evaluation results: terminal tables, a JSON file and a bar chart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from streammm.errors import ConfigError

COLUMNS = (
    ("hit@1", "hit@1"), ("r@5", "R@5"), ("r1@0.3", "R1@0.3"), ("r1@0.5", "R1@0.5"), ("r1@0.7", "R1@0.7"), ("iou", "mean IoU"),
    ("map", "mAP@[.5:.95]"), ("median_start_error_s", "median start err s"), ("median_width_ratio", "width/label"), ("n", "n"),
)
PLOTTED = (("hit@1", "hit@1"), ("r@5", "R@5"), ("r1@0.5", "R1@0.5"), ("r1@0.7", "R1@0.7"), ("iou", "mIoU"), ("map", "mAP"))
NO_ANSWER = (("no_answer", "no-answer acc"), ("n_unanswerable", "n unans."))  # shown when a summary has them
BY_MODALITY = (("hit@1", "hit@1"), ("r1@0.5", "R1@0.5"), ("iou", "mIoU"))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned first column, right-aligned numbers, a dashed rule under the header."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_summary(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per strategy, one column per metric (a metric missing from an older summary shows "-"); the
    no-answer columns only when some strategy has unanswerable queries."""
    columns = COLUMNS + (NO_ANSWER if any("no_answer" in metrics for metrics in summary.values()) else ())
    rows = [[strategy, *(_cell(metrics.get(key)) for key, _ in columns)] for strategy, metrics in summary.items()]
    return _table(["strategy", *(title for _, title in columns)], rows)


def format_by_modality(by_modality: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """hit@1 / R1@0.5 / mIoU per strategy (rows) and query modality (columns), with each modality's n in its title."""
    modalities = sorted({m for per in by_modality.values() for m in per})
    counts = {m: next(per[m]["n"] for per in by_modality.values() if m in per) for m in modalities}
    header = [" / ".join(title for _, title in BY_MODALITY), *(f"{m} (n={counts[m]})" for m in modalities)]
    rows = [
        [strategy, *(" / ".join(_cell(per[m].get(key)) for key, _ in BY_MODALITY) if m in per else "-" for m in modalities)]
        for strategy, per in by_modality.items()
    ]
    return _table(header, rows)


def format_widths(rows: Sequence[Mapping[str, Any]], strategy: str) -> str:
    """Per query under `strategy`: the label's width, the top moment's, their IoU and the start error."""
    table = [
        [
            r["query_id"], r["modality"], _cell(r.get("label_width_s")), _cell(r.get("top_width_s")), _cell(r["iou"]),
            _cell(r["start_error_s"]),
        ]
        for r in rows
        if r["strategy"] == strategy and r.get("answerable", True)
    ]
    return _table(["query", "modality", "label s", "top moment s", "IoU", "start err s"], table)


def format_asr(result: Mapping[str, Any]) -> str:
    rows = [[f["file"], str(f["reference_words"]), str(f["errors"]), f"{f['wer']:.3f}"] for f in result["files"]]
    rows.append(["overall", str(result["reference_words"]), str(result["errors"]), f"{result['wer']:.3f}"])
    return f"speech model: {result['model']}\n" + _table(["file", "ref words", "errors", "WER"], rows)


def format_ocr(result: Mapping[str, Any]) -> str:
    rows = [[i["file"], str(i["reference_chars"]), str(i["errors"]), f"{i['cer']:.3f}"] for i in result["images"]]
    rows.append(["overall", str(result["reference_chars"]), str(result["errors"]), f"{result['cer']:.3f}"])
    return _table(["image", "ref chars", "errors", "CER"], rows)


def write_json(result: Mapping[str, Any], path: str | Path) -> Path:
    out = Path(path).expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def plot_summary(summary: Mapping[str, Mapping[str, Any]], path: str | Path, *, title: str = "retrieval strategies") -> Path:
    """A grouped bar chart (PNG): per strategy, bars for hit@1, R@5, R1@0.5, R1@0.7, mIoU and mAP on a 0-1 scale."""
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its font cache notice is not our progress
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    out = Path(path).expanduser()
    strategies = list(summary)
    width = 0.8 / len(PLOTTED)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.9 * len(strategies) + 2), 4.2), dpi=120)
    try:
        for i, (key, label) in enumerate(PLOTTED):
            xs = [n + (i - (len(PLOTTED) - 1) / 2) * width for n in range(len(strategies))]
            values = [summary[s].get(key, 0.0) for s in strategies]
            bars = ax.bar(xs, values, width, label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
        n = max((m["n"] for m in summary.values()), default=0)
        ax.set_xticks(range(len(strategies)), strategies)
        ax.set_ylim(0, 1.22)  # head room for the legend above the 1.0 bars
        ax.set_ylabel("score")
        ax.set_title(f"{title} ({n} queries)")
        ax.legend(loc="upper center", ncols=len(PLOTTED), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out, format="png")
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return out
