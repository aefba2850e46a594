"""`streammm eval [retrieval|asr|ocr]`: the quality measurements, as one subcommand.

    streammm eval [--queries FILE] [--media-root DIR] [--strategies S ...] [--data-dir DIR] [--answers] [--json OUT] [--plot OUT.png]
    streammm eval asr [--json OUT]
    streammm eval ocr [--json OUT]

`what` is an optional positional (default `retrieval`) rather than nested subparsers, so the common
case needs no extra word and all three share `--json`. Tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from streammm.config import Settings
from streammm.errors import ConfigError

WHAT = ("retrieval", "asr", "ocr")
RETRIEVAL_ONLY = (
    ("queries", "--queries"), ("media_root", "--media-root"), ("strategies", "--strategies"), ("data_dir", "--data-dir"), ("plot", "--plot"),
    ("across_streams", "--across-streams"), ("answers", "--answers"),
)


def add_eval_parser(commands: Any) -> None:
    """Add `eval` to the subparsers object of `streammm`'s parser."""
    from streammm.qa.retrieval import STRATEGIES

    ev = commands.add_parser(
        "eval",
        help="measure quality: retrieval strategies on labelled queries, speech WER, OCR CER",
        description="Measure quality. retrieval (default): index the videos a query file names and score every "
        "retrieval strategy on its queries, each asked of its own video (or of every stream with --across-streams). asr: word error rate of the speech model "
        "on the LibriVox reference clips. ocr: character error rate of the OCR engine on the reference images. "
        "See docs/eval.md.",
    )
    ev.add_argument("what", nargs="?", default="retrieval", choices=WHAT, help="what to measure (default: retrieval)")
    ev.add_argument("--queries", metavar="FILE", help="retrieval: the query file (default: <shared media>/queries.json)")
    ev.add_argument(
        "--media-root", metavar="DIR", help="retrieval: media paths in the query file are relative to this (default: the file's folder)"
    )
    ev.add_argument(
        "--strategies", nargs="+", choices=STRATEGIES, metavar="STRATEGY",
        help=f"retrieval: only these ({', '.join(STRATEGIES)}; default: all)",
    )
    ev.add_argument(
        "--data-dir", metavar="DIR",
        help="retrieval: index into (or reuse the streams already in) this store; default: a temporary one, deleted afterwards",
    )
    ev.add_argument(
        "--across-streams", action="store_true",
        help="retrieval: ask each query of every stream in the store, not only its own video (a moment of another video is a miss)",
    )
    ev.add_argument(
        "--answers", action="store_true",
        help="retrieval: also ask each query through the answerer (as the websocket does) and score its citations",
    )
    ev.add_argument("--json", metavar="OUT", help="also write the results as JSON here")
    ev.add_argument("--plot", metavar="OUT.png", help="retrieval: also draw a bar chart of hit@1, R@5, R1@0.5, R1@0.7, mIoU and mAP per strategy")
    ev.set_defaults(run=run_eval_command)


def run_eval_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.what != "retrieval":
        given = [flag for attr, flag in RETRIEVAL_ONLY if getattr(args, attr, None)]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise ConfigError(
                f"{', '.join(given)} {verb} only to 'streammm eval retrieval', not to 'streammm eval {args.what}'"
            )
    for out in (args.json, getattr(args, "plot", None)):
        if out and Path(out).expanduser().is_dir():
            raise ConfigError(f"{out} is a directory; give a file name")
    if args.what == "asr":
        return _asr(args, settings)
    if args.what == "ocr":
        return _ocr(args, settings)
    return _retrieval(args, settings)


def _retrieval(args: argparse.Namespace, settings: Settings) -> int:
    from streammm.eval.harness import run_eval
    from streammm.eval.queries import load_queries
    from streammm.eval.report import format_by_modality, format_summary, format_widths, plot_summary, write_json
    from streammm.paths import shared_media
    from streammm.qa.retrieval import STRATEGIES

    queries_file = Path(args.queries) if args.queries else shared_media() / "queries.json"
    queries = load_queries(queries_file, media_root=args.media_root)  # fails fast, before any model loads
    strategies = list(dict.fromkeys(args.strategies or STRATEGIES))
    with tempfile.TemporaryDirectory(prefix="streammm-eval-", ignore_cleanup_errors=True) as scratch:
        data_dir = args.data_dir or scratch
        if not args.data_dir:
            print(f"indexing into a temporary store {scratch} (deleted afterwards; --data-dir DIR keeps it)", file=sys.stderr)
        result = run_eval(settings, queries, strategies=strategies, data_dir=data_dir, across_streams=args.across_streams)
        if args.answers:
            from streammm.eval.answers import evaluate_answers

            result["answers"] = evaluate_answers(
                settings, queries, data_dir=data_dir, not_indexed=result["run"].get("not_indexed"), across_streams=args.across_streams
            )
    result["run"]["queries_file"] = str(queries_file)
    if not args.data_dir:
        result["run"]["data_dir"] = None
    k = result["run"]["k"]
    print(f"{len(queries)} queries from {queries_file}, each asked of {result['run']['asked_of']}; top {k} moments per query\n")
    print(format_summary(result["summary"]))
    print("\nper query modality:\n")
    print(format_by_modality(result["by_modality"]))
    shown = "hybrid" if "hybrid" in strategies else strategies[-1]
    print(f"\nper query, {shown}: the top moment's width against the label's\n")
    print(format_widths(result["rows"], shown))
    if "answers" in result:
        from streammm.eval.answers import format_answers

        print("\n" + format_answers(result["answers"]["summary"]))
    if args.json:
        print(f"wrote {write_json(result, args.json)}", file=sys.stderr)
    if args.plot:
        print(f"wrote {plot_summary(result['summary'], args.plot)}", file=sys.stderr)
    not_indexed = result["run"].get("not_indexed") or {}
    if not_indexed:
        print(f"\n{len(not_indexed)} video(s) could not be indexed; their queries are not scored:", file=sys.stderr)
        for sid, why in sorted(not_indexed.items()):
            print(f"  {sid}: {why}", file=sys.stderr)
        return 1
    return 0


def _asr(args: argparse.Namespace, settings: Settings) -> int:
    from streammm.eval.asr import evaluate_asr
    from streammm.eval.report import format_asr, write_json

    result = evaluate_asr(settings)
    print(format_asr(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}", file=sys.stderr)
    return 0


def _ocr(args: argparse.Namespace, settings: Settings) -> int:
    from streammm.eval.ocr import evaluate_ocr
    from streammm.eval.report import format_ocr, write_json

    result = evaluate_ocr(settings)
    print(format_ocr(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}", file=sys.stderr)
    return 0
