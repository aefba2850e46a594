"""`streammm dlq list|replay`: the dead letters, listed or re-published after a fix, as one subcommand."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from streammm.config import Settings


def add_dlq_parser(commands: Any) -> None:
    """Add `dlq` to the subparsers object of `streammm`'s parser."""
    dlq = commands.add_parser("dlq", help="dead letters: list them, re-publish them after a fix")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    dlq_list = dlq_commands.add_parser("list", help="the dead letters, from the broker if one runs, else from the archive")
    dlq_list.add_argument("--data-dir", help="the data dir of `streammm up` (default ./streammm-data)")
    dlq_list.add_argument("--stream", help="only this stream's dead letters")
    dlq_list.add_argument("--json", action="store_true", help="print a JSON list")
    dlq_list.set_defaults(run=_cmd_dlq_list)
    dlq_replay = dlq_commands.add_parser("replay", help="re-publish dead letters to their source topics (needs a broker)")
    dlq_replay.add_argument("--data-dir", help="the data dir of `streammm up` (default ./streammm-data)")
    dlq_replay.add_argument("--stream", help="only this stream's dead letters")
    dlq_replay.add_argument("--offset", nargs="+", action="extend", metavar="TOPIC:PARTITION:OFFSET", help="only these dead letters")
    dlq_replay.add_argument("--all", action="store_true", help="re-publish every dead letter")
    dlq_replay.set_defaults(run=_cmd_dlq_replay)


def _cmd_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from streammm.bus.topics import Topics
    from streammm.pipeline.dead_letters import archive_folder, archived_dead_letters, broker_dead_letters, find_broker

    data, bootstrap = find_broker(settings)
    if bootstrap:
        topic = Topics.from_config(settings.kafka).dlq
        print(f"streammm: reading dead letters from topic {topic} at {bootstrap}", file=sys.stderr)
        letters = asyncio.run(broker_dead_letters(settings.kafka, bootstrap, topic, args.stream))
    else:
        folder = archive_folder(data)
        print(f"streammm: no broker running; reading the dead-letter archive {folder}", file=sys.stderr)
        letters = archived_dead_letters(folder, args.stream)
    if args.json:
        rows = [
            {
                "source_topic": x.source_topic, "partition": x.partition, "offset": x.offset,
                "stream_id": x.stream_id, "reason": x.reason, "payload_bytes": len(x.payload),
            }
            for x in letters
        ]
        json.dump(rows, sys.stdout, ensure_ascii=False)
        print()
    elif not letters:
        print("no dead letters")
    else:
        for x in letters:
            reason = " ".join(x.reason.split())
            print(f"{x.source_topic}:{x.partition}:{x.offset}  stream {x.stream_id}  {len(x.payload) / 1024:.1f} KB  {reason}")
    return 0


def _cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from streammm.bus.topics import Topics
    from streammm.errors import ConfigError
    from streammm.pipeline.dead_letters import (
        archive_folder,
        archived_dead_letters,
        broker_dead_letters,
        find_broker,
        letter_key,
        mark_replayed,
        replay,
    )

    if not (args.all or args.stream or args.offset):
        raise ConfigError(
            "dlq replay re-publishes every dead letter only with --all; narrow it with --stream ID or --offset TOPIC:PARTITION:OFFSET"
        )
    wanted = {_dlq_offset(text) for text in args.offset or ()}
    data, bootstrap = find_broker(settings)
    if not bootstrap:
        raise ConfigError(f"dlq replay needs a broker: start `streammm up --data-dir {data}` (or set kafka.bootstrap_servers) first")
    folder = archive_folder(data)
    topic = Topics.from_config(settings.kafka).dlq

    async def run() -> int:
        archived = archived_dead_letters(folder)  # the archive, when it has any, outlives the broker's topic
        letters = archived or await broker_dead_letters(settings.kafka, bootstrap, topic)
        source = f"the archive {folder}" if archived else f"topic {topic} at {bootstrap}"
        chosen = [x for x in letters if (not args.stream or x.stream_id == args.stream) and (not wanted or letter_key(x) in wanted)]
        of_stream = f" of stream {args.stream}" if args.stream else ""
        missing = wanted - {letter_key(x) for x in chosen}
        if missing:
            names = ", ".join(f"{t}:{p}:{o}" for t, p, o in sorted(missing))
            raise ConfigError(f"no such dead letter{of_stream} in {source}: {names}")
        if not chosen:
            print(f"no dead letters{of_stream} in {source}; nothing re-published")
            return 0
        sent = await replay(chosen, settings.kafka, bootstrap)
        if archived:
            mark_replayed(folder, chosen)
        print(f"re-published {sent} dead letters from {source}")
        return 0

    return asyncio.run(run())


def _dlq_offset(text: str) -> tuple[str, int, int]:
    from streammm.errors import ConfigError

    topic, _, rest = text.rpartition(":")
    topic, _, partition = topic.rpartition(":")
    try:
        key = (topic, int(partition), int(rest))
    except ValueError:
        key = ("", -1, -1)
    if not key[0] or key[1] < 0 or key[2] < 0:
        raise ConfigError(f"--offset {text!r}: expected TOPIC:PARTITION:OFFSET, e.g. streammm.segments.v1:0:42")
    return key
