"""Settings: one frozen, validated object built from defaults < file < environment < flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streammm.errors import ConfigError

# The retrieval strategies (streammm.qa.retrieval implements them): one modality's vector, the joint
# vector, rank fusion of the three modalities ("late"), and the joint vector fused with BM25 ("hybrid").
STRATEGIES = ("visual", "speech", "ocr", "joint", "late", "hybrid")
ENV_PREFIX = "STREAMMM_"
DEFAULT_CONFIG_FILE = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "credential")
MASK = "***"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaConfig(_Section):
    sample_fps: float = Field(1.0, gt=0, le=30)
    shot_detect_fps: float = Field(4.0, ge=0, le=30, description="0 turns shot-change keyframes off")
    shot_threshold: float = Field(0.35, gt=0, le=2, description="whole-picture colour-histogram distance that counts as a cut (a part of the picture replaced while the rest stays still is one too: media/shots.py)")
    segment_s: float = Field(2.0, gt=0, le=60)
    max_file_mb: int = Field(4096, gt=0)
    decoder: Literal["pyav", "decord"] = Field(
        "pyav", description="frame decoder; decord falls back to pyav for an input it cannot open (remembered per stream)"
    )
    max_keyframe_gap_s: float = Field(
        5.0, gt=0, description="a file whose video keyframes are further apart is re-encoded, so segments stay ~segment_s"
    )
    overload_lag_s: float = Field(
        4.0, ge=0, description="a paced stream (live, or --realtime) whose segment waited this long for a frame worker is "
        "sampled at overload_sample_fps until its segments wait less than half as long; 0 never thins"
    )
    overload_sample_fps: float = Field(0.5, gt=0, le=30, description="the visual and OCR sample rate of a paced stream that is behind")
    same_frame_diff: float = Field(
        2.0, ge=0, le=255, description="a sampled frame whose every cell (16x16 grid, mean grey) differs from the frame before it in "
        "its segment by at most this reuses that frame's tags and vector; 0 runs the vision model on every frame"
    )


class SpeechConfig(_Section):
    model: str = Field("tiny.en", description="tiny.en (bundled), base (bundled, multilingual), or any faster-whisper name/path")
    compute_type: str = "int8"
    beam_size: int = Field(5, ge=1, le=10)
    language: str | None = None
    vad: bool = True
    min_silence_ms: int = Field(300, ge=50)
    max_buffer_s: float = Field(20.0, ge=4, le=30)
    boundary_guard_s: float = Field(1.0, ge=0.2)
    context_s: float = Field(20.0, ge=0, le=25, description="already-transcribed audio re-fed as context")


class OcrConfig(_Section):
    engine: Literal["rapidocr"] = "rapidocr"
    min_score: float = Field(0.5, ge=0, le=1)
    gate_threshold: float = Field(
        10.0, ge=0, description="mean abs pixel difference (0-255) of a grid cell that makes its row be searched again, and of a "
        "block (a quarter of a cell a side, about a character) that makes the known lines over it be looked at again"
    )
    gate_grid: int = Field(12, ge=1, le=64)
    max_side_px: int = Field(1280, ge=160)
    min_text_px: float = Field(8.0, ge=0, description="detected line boxes lower than this (frame pixels) are too small to read: not recognised")
    min_box_aspect: float = Field(
        1.2, ge=0, description="detected boxes narrower than this times their height hold one character: not recognised"
    )
    min_chars: int = Field(2, ge=1, description="readings with fewer letters or digits are fragments, dropped")
    min_score_short: float = Field(0.8, ge=0, le=1, description="readings of 3 letters or digits or fewer need this score (min_score for longer)")
    same_line_diff: float = Field(
        12.0, ge=0, description="a line box whose picture differs from a known line's by at most this (mean 0-255 over any "
        "character-wide block) keeps that line's text, unrecognised"
    )


class BundledProfileConfig(_Section):
    vision_model: Literal["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"] = "efficientnet-lite0"
    top_k: int = Field(10, ge=1, le=100)
    tag_min_prob: float = Field(0.08, ge=0, le=1)
    detectors: bool = True


class ClipProfileConfig(_Section):
    arch: str = "ViT-B-32"
    pretrained: str = Field("laion2b_s34b_b79k", description="open_clip tag or a local checkpoint file")


class EmbeddingConfig(_Section):
    profile: Literal["bundled", "clip"] = "bundled"
    bundled: BundledProfileConfig = BundledProfileConfig()
    clip: ClipProfileConfig = ClipProfileConfig()


class ModelsConfig(_Section):
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int = Field(2, ge=1, le=64, description="inference thread pool size: model calls that run at once")
    op_threads: int = Field(
        0, ge=0, le=64,
        description="threads inside one model call; 0: `threads` in a worker process, and in `streammm up` (every worker in one process) the cores divided among them",
    )

    def threads_per_call(self) -> int:
        """`op_threads`, or `threads` when it is not set."""
        return self.op_threads or self.threads

    def one_thread_a_call(self) -> ModelsConfig:
        """These settings for `serve`'s question encoder: unless `op_threads` is set, one thread a call, as the
        server encodes questions side by side (two threads took as long a question for 40 % more CPU)."""
        return self if self.op_threads else self.model_copy(update={"op_threads": 1})

    def sharing_cores(self) -> ModelsConfig:
        """These settings for a process that runs every worker (`streammm up`): unless `op_threads` is set,
        the cores are divided among the pool's threads, so model calls running at once do not oversubscribe them."""
        if self.op_threads:
            return self
        return self.model_copy(update={"op_threads": max(1, (os.cpu_count() or 1) // self.threads)})
    text_runtime: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx", description="bundled profile: MiniLM for what is stored (transcripts, on-screen text) through sentence-transformers (torch) or ONNX Runtime (fp32, or int8 weights); cpu only"
    )
    question_runtime: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="bundled profile: the same for questions (search, ask, watch); int8 halves their CPU, and against float stored "
        "vectors gave the same hybrid moments on the labelled queries (docs/eval.md); cpu only",
    )
    speech: SpeechConfig = SpeechConfig()
    ocr: OcrConfig = OcrConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()


class WeaviateConfig(_Section):
    http_url: str = "http://127.0.0.1:8080"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=1, le=65535)
    api_key: str | None = None
    collection: str = "StreammmClip"
    timeout_s: float = Field(30.0, gt=0)
    batch_size: int = Field(100, ge=1)
    # HNSW per named vector, set when the collection is created (docs/store.md: sizing for 1M+ clips).
    hnsw_max_connections: int = Field(32, ge=4, le=256, description="graph edges per node (immutable after creation)")
    hnsw_ef_construction: int = Field(256, ge=16, description="candidate list while building (immutable after creation)")
    hnsw_ef: int = Field(-1, ge=-1, description="candidate list per query; -1: dynamic, limit x dynamic_ef_factor within [min, max]")
    hnsw_dynamic_ef_min: int = Field(100, ge=1)
    hnsw_dynamic_ef_max: int = Field(500, ge=1)
    hnsw_dynamic_ef_factor: int = Field(8, ge=1)
    hnsw_filter_strategy: Literal["sweeping", "acorn"] = Field("acorn", description="acorn keeps restrictive filters fast on large graphs")
    quantizer: Literal["none", "rq", "sq", "pq", "bq"] = Field(
        "rq", description="vectors compressed in memory (rq: 8-bit rotational, 4x smaller), re-scored on full vectors from disk"
    )
    rescore_limit: int = Field(200, ge=0, description="rq/sq: candidates re-scored on full vectors")


class StoreConfig(_Section):
    backend: Literal["embedded", "weaviate"] = "embedded"
    data_dir: str = Field("./streammm-data", description="embedded store, thumbnails and uploads live here")
    optimize_every: int = Field(200, ge=1, description="embedded: compact the table after this many upserts")
    ann_min_rows: int = Field(
        100_000, ge=1, description="embedded: tables of this many clips get an IVF vector index (re-ranked exactly); smaller ones are scanned exactly"
    )
    ann_index: Literal["ivf_sq", "ivf_pq", "ivf_hnsw_sq"] = Field("ivf_sq", description="embedded: the kind of vector index")
    ann_nprobes: int = Field(32, ge=1, description="embedded: IVF partitions searched per query (more when a filter leaves too few rows)")
    ann_refine_factor: int = Field(10, ge=1, description="embedded: refine_factor x k index candidates are re-ranked on the full vectors")
    weaviate: WeaviateConfig = WeaviateConfig()


class KafkaConfig(_Section):
    bootstrap_servers: str = Field("", description="empty: start the bundled Tansu broker on a free local port")
    topic_prefix: str = "streammm"
    partitions: int = Field(6, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1)
    max_message_mb: int = Field(16, ge=1, le=200)
    fetch_max_wait_ms: int = Field(20, ge=1, le=5000)
    session_timeout_ms: int = Field(10000, ge=1000)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    retry_backoff_ms: int = Field(200, ge=1, description="first wait before a retriable failure (store, broker) is retried")
    retry_backoff_max_ms: int = Field(10_000, ge=1, description="longest wait between retries; retries go on while the failure lasts")
    worker_heartbeat_ms: int = Field(2000, ge=100, description="how often workers announce themselves and their lag")


class IngestConfig(_Section):
    max_ahead_s: float = Field(
        60.0, gt=0, description="up: a file is published at most this many media seconds ahead of its stored clips"
    )
    read_timeout_s: float = Field(
        15.0, gt=0, description="a live source that sends nothing for this long (opening or reading) is reconnected"
    )
    rtsp_transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP media over the RTSP connection (tcp, interleaved: no loss in bursts) or over udp"
    )
    max_reconnects: int | None = Field(
        None, ge=0, description="failed reconnects in a row before a live source is given up (null: never give up)"
    )
    max_backoff_s: float = Field(
        5.0, gt=0, description="the longest wait between reconnects (1 s, doubling up to this): a camera back is seen within it"
    )


class AlignConfig(_Section):
    window_s: float = Field(4.0, gt=0)
    stride_s: float = Field(2.0, gt=0)
    provisional_after_s: float = Field(
        4.0, ge=0, description="wall seconds a window waits for a modality that is behind before it is stored provisionally "
        "(speech waits for the end of a sentence, so its words often arrive a segment or two after the frames)"
    )
    dead_after_s: float = Field(30.0, gt=0, description="a modality with no worker heartbeat for this long is dead, not behind")
    thumbnail_px: int = Field(320, ge=32)
    weights: dict[str, float] = Field(
        default_factory=lambda: {"visual": 1.0, "speech": 1.0, "ocr": 1.0},
        description="joint vector = normalised weighted sum of the modality vectors present",
    )


class ServerConfig(_Section):
    host: str = Field("127.0.0.1", description="0.0.0.0 to listen on every interface (auth then defaults to on)")
    port: int = Field(8000, ge=0, le=65535, description="0 picks a free port")
    max_message_kb: int = Field(64, ge=1, le=16384, description="largest websocket message or request body accepted")
    max_question_chars: int = Field(1000, ge=1)
    default_k: int = Field(5, ge=1)
    max_k: int = Field(50, ge=1, le=1000)
    max_in_flight: int = Field(8, ge=1, le=256, description="asks being answered at once on one socket")
    max_watches: int = Field(16, ge=0, le=1024, description="standing queries per socket")
    max_watches_total: int = Field(20000, ge=0, description="standing queries on the whole server")
    max_connections: int = Field(1024, ge=1, description="open websockets on the whole server; more are closed with 1013")
    send_timeout_s: float = Field(
        10.0, gt=0, description="a socket that takes longer than this to take one event is closed (1013) and its watches dropped"
    )
    max_queued_kb: int = Field(
        1024, ge=16, description="events waiting to be sent on one socket; a socket that falls this far behind is closed (1013)"
    )
    insecure: bool = Field(False, description="allow auth.enabled: false on an address beyond loopback (--insecure)")
    watch_threshold: float = Field(0.5, ge=-1, le=1, description="default cosine a live clip must reach to match a watch")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="with auth off, Host names served besides localhost, 127.0.0.1 and [::1]"
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="websocket Origins accepted besides the server's own (e.g. https://app.example)"
    )
    query_threads: int = Field(0, ge=0, le=256, description="threads for retrieval and answers (retrieval first); 0 = one per CPU core, at least 2")
    retrieval_batch: int = Field(
        8, ge=1, le=64, description="retrievals waiting for a query thread that run together (one encode, one store call); 1 = one at a time"
    )


class TokenConfig(_Section):
    token: str = Field(min_length=8)
    name: str = ""
    streams: list[str] | None = Field(None, description="the streams this token may see; null = all")


class AuthConfig(_Section):
    enabled: bool | None = Field(None, description="null: off when the server listens on loopback only, on otherwise")
    tokens: list[TokenConfig] = Field(default_factory=list)
    metrics_token: str | None = Field(
        None, min_length=8, description="with auth on, a token that may read /metrics only (for scrapers); any auth.tokens entry may too"
    )


class LlmConfig(_Section):
    base_url: str | None = Field(None, description="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    model: str = "llama3.1"
    api_key: str | None = None
    timeout_s: float = Field(60.0, gt=0)
    max_tokens: int = Field(400, ge=16)
    temperature: float = Field(0.0, ge=0, le=2)


class QaConfig(_Section):
    answerer: Literal["extractive", "llm"] = Field("extractive", description="llm needs qa.llm.base_url")
    strategy: str = Field("hybrid", description="one of " + " | ".join(STRATEGIES))
    evidence_moments: int = Field(5, ge=1, le=50, description="moments handed to the answerer")
    max_sentences: int = Field(3, ge=1, le=20, description="extractive: sentences in an answer")
    min_relevance: float = Field(
        0.05, ge=0.0, le=1.0,
        description="moments whose calibrated relevance (0-1) is below this are not returned; 0 returns every moment",
    )
    llm: LlmConfig = LlmConfig()


    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; choose one of {', '.join(STRATEGIES)}")
        return value


class LogConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = False


class Settings(_Section):
    media: MediaConfig = MediaConfig()
    ingest: IngestConfig = IngestConfig()
    models: ModelsConfig = ModelsConfig()
    align: AlignConfig = AlignConfig()
    kafka: KafkaConfig = KafkaConfig()
    store: StoreConfig = StoreConfig()
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    qa: QaConfig = QaConfig()
    log: LogConfig = LogConfig()

    def public_dict(self) -> dict[str, Any]:
        """The settings as plain data, with every secret masked."""
        return _mask(self.model_dump(mode="json"))


def load_settings(
    config_file: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    defaults_file: Path | None = DEFAULT_CONFIG_FILE,
) -> Settings:
    """Merge the defaults file, `config_file`, `STREAMMM_<SECTION>__<KEY>` variables and `overrides`.

    `overrides` uses dotted keys (`{"models.device": "cuda"}`); a value of None means "not given".
    """
    data: dict[str, Any] = {}
    if defaults_file is not None and defaults_file.exists():
        _deep_merge(data, _read_yaml(defaults_file))
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        _deep_merge(data, _read_yaml(path))
    env = os.environ if env is None else env
    for name, raw in sorted(env.items()):
        if name.startswith(ENV_PREFIX) and "__" in name:
            keys = name[len(ENV_PREFIX) :].lower().split("__")
            _set_path(data, keys, _parse_scalar(raw, name))
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, dotted.split("."), value)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return loaded


def _parse_scalar(raw: str, name: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        raise ConfigError(f"environment variable {name}: cannot parse {raw!r}") from None


def _deep_merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if any(word in key.lower() for word in SECRET_WORDS) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    return value
