"""The `streammm` command line: one subcommand per job, each a thin layer over the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from streammm import __version__
from streammm.config import Settings, load_settings
from streammm.errors import StreammmError
from streammm.logs import setup_logging

log = logging.getLogger("streammm")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streammm", description="Streaming video understanding server.")
    parser.add_argument("--version", action="version", version=f"streammm {__version__}")
    parser.add_argument("--config", metavar="FILE", help="YAML settings file (over configs/default.yaml)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="run models on this device")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    inspect = commands.add_parser("inspect", help="print a video's timeline: words, on-screen text, frame tags")
    inspect.add_argument("video", help="a video (or audio) file")
    inspect.add_argument("--json", action="store_true", help="print one JSON document")
    inspect.add_argument("--profile", choices=["bundled", "clip"], help="embedding profile for the frame tags")
    inspect.set_defaults(run=_cmd_inspect)

    config = commands.add_parser("config", help="configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser("show", help="print the effective settings (secrets masked)")
    show.set_defaults(run=_cmd_config_show)

    bench = commands.add_parser("bench", help="measure speed (prints numbers; not a test)")
    bench.add_argument("what", nargs="?", default="perception", choices=["perception"], help="what to measure")
    bench.add_argument("--media", nargs="*", help="media files (default: the shared dev videos)")
    bench.add_argument("--json", metavar="OUT", help="also write the results as JSON here")
    bench.set_defaults(run=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            args.config,
            overrides={
                "log.level": args.log_level,
                "models.device": args.device,
                "models.embedding.profile": getattr(args, "profile", None),
            },
        )
        setup_logging(settings.log)
        run: Callable[[argparse.Namespace, Settings], int] = args.run
        return run(args, settings)
    except StreammmError as exc:
        print(f"streammm: error: {exc}", file=sys.stderr)
        return 2 if not exc.retriable else 75  # 75 = EX_TEMPFAIL: trying again may help
    except KeyboardInterrupt:
        print("streammm: interrupted", file=sys.stderr)
        return 130


def _cmd_config_show(args: argparse.Namespace, settings: Settings) -> int:
    import yaml

    print(yaml.safe_dump(settings.public_dict(), sort_keys=False), end="")
    return 0


def _cmd_inspect(args: argparse.Namespace, settings: Settings) -> int:
    from streammm.media.probe import probe
    from streammm.perception import Perceiver
    from streammm.progress import media_progress

    info = probe(args.video, max_file_mb=settings.media.max_file_mb)  # fail fast, before loading models
    perceiver = Perceiver(settings)
    with media_progress(info.duration_s, desc="inspect") as advance:
        timeline, _ = perceiver.perceive_file(args.video, progress=advance)
    if args.json:
        json.dump(timeline.to_json(), sys.stdout, ensure_ascii=False)
        print()
    else:
        _print_timeline(timeline.to_json())
    return 0


def _print_timeline(doc: dict[str, Any]) -> None:
    print(f"{doc['media']}  ({doc['duration_s']:.2f} s)")
    print("\nwords:")
    for w in doc["words"] or [{"start_s": None}]:
        print(f"  {_mmss(w['start_s'])}-{_mmss(w['end_s'])}  {w['text']}" if w["start_s"] is not None else "  (none)")
    print("\non-screen text:")
    for o in doc["ocr"] or [{"start_s": None}]:
        print(f"  {_mmss(o['start_s'])}-{_mmss(o['end_s'])}  {o['text']}" if o["start_s"] is not None else "  (none)")
    print("\nframes:")
    for f in doc["frames"] or [{"t_s": None}]:
        print(f"  {_mmss(f['t_s'])}  {', '.join(f['tags']) or '-'}" if f["t_s"] is not None else "  (none)")


def _mmss(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{rest:05.2f}"


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from streammm.bench import run_perception_bench

    results = run_perception_bench(settings, args.media)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
