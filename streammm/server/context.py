"""What every request handler of one server shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streammm.config import Settings
from streammm.stats import PipelineStats
from streammm.qa.answer import Answerer
from streammm.qa.service import QueryService
from streammm.server.auth import Authenticator
from streammm.server.batches import RetrievalBatches
from streammm.server.metrics import Metrics
from streammm.server.watch import WatchRegistry
from streammm.server.workers import QueryWorkers


@dataclass
class ServerContext:
    settings: Settings
    service: QueryService
    answerer: Answerer
    auth: Authenticator
    data_dir: Path
    metrics: Metrics
    watches: WatchRegistry
    workers: QueryWorkers
    batches: RetrievalBatches  # moments: retrievals that wait together run together
    has_clip_feed: bool = False
    stats: PipelineStats | None = None
    open_connections: int = 0  # websockets open now (server.max_connections bounds it)
