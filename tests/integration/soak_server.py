"""The server the soak test loads: the real app over a dev store under uvicorn, with a clip feed that
announces a copy of the "Mirror displays" clip (a fresh id each time) every second, as a live stream would.

Run: python soak_server.py DATA_DIR PORT [KEY=VALUE settings...]; it prints "ready" once it serves.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

from streammm.config import load_settings
from streammm.models.registry import create_question_encoder
from streammm.qa.service import QueryService, SearchRequest
from streammm.server.run import serve
from streammm.store.factory import open_existing_store

CLIP_EVERY_S = 1.0


def main() -> None:
    data_dir, port, *extra = sys.argv[1:]
    overrides = {"store.data_dir": data_dir, "server.port": int(port), **dict(item.split("=", 1) for item in extra)}
    settings = load_settings(env={}, overrides=overrides)
    encoder = create_question_encoder(settings.models)
    store = open_existing_store(settings, encoder.dim)
    shown = QueryService(store, encoder).moments(SearchRequest("Mirror displays", streams=("display-dual-monitors",), strategy="ocr", k=1))
    template = shown[0].clips[0]

    async def feed(stop: asyncio.Event):
        n = 0
        while not stop.is_set():
            await asyncio.sleep(CLIP_EVERY_S)
            n += 1
            yield replace(template, clip_id=f"soak-{n}"), time.time()

    print("ready", flush=True)
    asyncio.run(serve(settings, store, encoder, data_dir=Path(data_dir), clip_feed=feed))


if __name__ == "__main__":
    main()
