"""Query benchmark: the server's websocket and search latency over 10k and 100k synthetic clips.

Synthetic clips (`streammm.bench_corpus`) are windows of `window_s` every `stride_s` over `streams` streams,
with random unit vectors for every vector name and speech / on-screen text cut from the real development
transcripts (shared media), a share of them with word timings so the extractive answerer has sentences.
They are loaded into a fresh embedded store, the real server (create_app + uvicorn, the bundled MiniLM
encoder, default settings: hybrid retrieval (joint + BM25), extractive answers) is started as a `streammm
serve` process of its own on a free port (not in this process: its threads would share an interpreter with the
clients'), and it is driven by N concurrent websocket clients asking questions in a closed loop (each asks,
waits for `answer.done`, asks again), then by N concurrent HTTP clients on `POST /v1/search`.

Numbers, never pass/fail: `format_query_bench` prints them with the issue's targets beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# TextPool and synthetic_clips are imported from here too (tests, callers of the bench).
from streammm.bench_corpus import Corpus, TextPool, load_store, load_text_pool, scene_vectors, synthetic_clips  # noqa: F401
from streammm.bench_load import SLOW_READER_MESSAGES, slow_reader, summary_ms, watch_fanout
from streammm.config import Settings
from streammm.measure import percentile
from streammm.records import VECTOR_NAMES

# The targets `moments` latency is held to (issue 13): (clips, clients) -> (p50 ms, p99 ms).
TARGETS = {(100_000, 20): (100.0, 300.0), (1_000_000, 1): (60.0, 120.0), (1_000_000, 20): (250.0, 800.0)}
REPLY_TIMEOUT_S = 300.0  # a server that stops answering fails the bench instead of hanging it


# --- latency summaries ---------------------------------------------------------------------------------


# --- the server under test -----------------------------------------------------------------------------


class _ServeProcess:
    """`streammm serve` over the bench's store in a process of its own, as users run it: its event loop and
    query threads do not share an interpreter (nor its lock) with the bench's clients. It gets the bench's
    settings as a config file; `resident_memory` reads its memory."""

    def __init__(self, settings: Settings, data_dir: Path, config_file: Path) -> None:
        from streammm.bus.broker import free_port

        self.port = free_port()
        self.data_dir, self.config_file = data_dir, config_file
        with open(os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:  # it may hold tokens
            out.write(yaml.safe_dump(settings.model_dump(mode="json")))
        self.log = config_file.with_suffix(".log")  # a file, not a pipe nobody reads while it runs
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> _ServeProcess:
        import httpx

        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMMM_") or k in ("STREAMMM_CACHE_DIR", "STREAMMM_MEDIA_DIR")}
        command = [sys.executable, "-m", "streammm", "--config", str(self.config_file), "--log-level", "WARNING",
                   "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)]  # fmt: skip
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{self.base}/readyz", timeout=5).status_code == 200:
                    return self
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"the server under test did not start: {self.log.read_text()[-2000:]}")

    def resident_memory(self, questions: Sequence[str], asks: int = 20) -> dict[str, Any]:
        """Its resident memory after `asks` searches have warmed its caches."""
        import httpx

        assert self.process is not None
        began = time.perf_counter()
        for i in range(asks):
            httpx.post(f"http://{self.base}/v1/search", json={"query": asked(questions, 77, i)}, timeout=120).raise_for_status()
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith(("VmRSS", "VmHWM"))}
        return {"rss_mb": round(int(fields["VmRSS"]) / 1024), "peak_rss_mb": round(int(fields["VmHWM"]) / 1024), "asks": asks,
                "search_mean_ms": round(1000 * (time.perf_counter() - began) / asks, 1)}  # fmt: skip

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --- load generators -----------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def asked(questions: Sequence[str], client: int, turn: int) -> str:
    """The `turn`-th question of a client: a pool question made unique, so that no ask finds its question's
    vector remembered from an earlier one (real users rarely ask the very same words)."""
    return f"{questions[(client + turn * 7) % len(questions)]} (c{client} t{turn})"


async def _ask_loop(url: str, questions: Sequence[str], first: int, until: float, out: dict[str, list[float]], stop_after: int | None = None) -> None:
    """One websocket client: ask, wait for `answer.done`, ask again, until `until` (monotonic)."""
    from websockets.asyncio.client import connect

    async with connect(url, max_size=16 * 1024 * 1024, open_timeout=30) as ws:
        turn = 0
        while time.monotonic() < until and (stop_after is None or turn < stop_after):
            request_id = f"q{first}-{turn}"
            question = asked(questions, first, turn)
            sent = time.perf_counter()
            await ws.send(json.dumps({"type": "ask", "id": request_id, "question": question}))
            moments_at = None
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), timeout=REPLY_TIMEOUT_S))
                if event.get("id") != request_id:
                    continue
                kind = event.get("type")
                if kind == "moments":
                    moments_at = time.perf_counter()
                    out["moments_n"].append(len(event.get("moments") or []))
                elif kind == "answer.done":
                    done_at = time.perf_counter()
                    if moments_at is not None:
                        out["moments"].append(moments_at - sent)
                        out["done"].append(done_at - sent)
                    break
                elif kind == "error":
                    out["errors"].append(1.0)
                    break
            turn += 1


async def _ws_phase(base: str, questions: Sequence[str], clients: int, duration_s: float) -> dict[str, Any]:
    out: dict[str, list[float]] = {"moments": [], "done": [], "errors": [], "moments_n": []}
    began = time.perf_counter()
    until = time.monotonic() + duration_s
    await asyncio.gather(*(_ask_loop(f"ws://{base}/v1/ws", questions, i * 11, until, out) for i in range(clients)))
    wall = time.perf_counter() - began
    return {
        "clients": clients,
        "asks": len(out["done"]),
        "errors": len(out["errors"]),
        "asks_per_s": round(len(out["done"]) / wall, 2) if wall > 0 else None,
        "moments": summary_ms(out["moments"]),
        "answer_done": summary_ms(out["done"]),
        "mean_moments_returned": round(sum(out["moments_n"]) / len(out["moments_n"]), 2) if out["moments_n"] else None,
        "wall_s": round(wall, 1),
    }


async def _ws_phase_beside_slow_readers(base: str, questions: Sequence[str], clients: int, slow: int, duration_s: float) -> dict[str, Any]:
    host, port = base.rsplit(":", 1)
    sockets = [slow_reader(host, int(port), SLOW_READER_MESSAGES) for _ in range(slow)]
    try:
        phase = await _ws_phase(base, questions, clients, duration_s)
    finally:
        for sock in sockets:
            sock.close()
    return {**phase, "slow_readers": slow}


async def _search_phase(base: str, questions: Sequence[str], clients: int, duration_s: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    until = time.monotonic() + duration_s

    async def client(first: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=f"http://{base}", timeout=120) as http:
            turn = 0
            while time.monotonic() < until:
                sent = time.perf_counter()
                response = await http.post("/v1/search", json={"query": asked(questions, first, turn)})
                if response.status_code == 200 and "moments" in response.json():
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1
                turn += 1

    began = time.perf_counter()
    await asyncio.gather(*(client(i * 13) for i in range(clients)))
    wall = time.perf_counter() - began
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "per_s": round(len(latencies) / wall, 2) if wall > 0 else None,
        "latency": summary_ms(latencies),
        "wall_s": round(wall, 1),
    }


async def _warm_up(base: str, questions: Sequence[str], asks: int) -> None:
    import httpx

    out: dict[str, list[float]] = {"moments": [], "done": [], "errors": [], "moments_n": []}
    await _ask_loop(f"ws://{base}/v1/ws", questions, 3, time.monotonic() + 300, out, stop_after=asks)
    async with httpx.AsyncClient(base_url=f"http://{base}", timeout=120) as http:
        for i in range(asks):
            (await http.post("/v1/search", json={"query": asked(questions, 1000, i)})).raise_for_status()


# --- where the time goes, and recall --------------------------------------------------------------------


def _breakdown(store: Any, encoder: Any, settings: Settings, questions: Sequence[str], n: int) -> dict[str, Any]:
    """One question at a time, no server: each step of an ask timed on its own (median ms over `n` questions)."""
    from streammm.qa.answer import keep_cited_evidence
    from streammm.qa.candidates import candidates
    from streammm.qa.extractive import ExtractiveAnswerer
    from streammm.qa.retrieval import fusion_depth, retrieve
    from streammm.qa.service import OVERFETCH, QueryService, SearchRequest
    from streammm.qa.vectors import remembering
    from streammm.server.protocol import done_event, moments_event

    async def inline(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    vectors = remembering(encoder)  # as the server shares them: the answer finds the question's vector
    answerer = ExtractiveAnswerer(vectors, max_sentences=settings.qa.max_sentences, run=inline)
    service = QueryService(store, vectors, min_relevance=settings.qa.min_relevance)  # moments fitted as the server fits them
    loop = asyncio.new_event_loop()
    k = settings.server.default_k
    depth = fusion_depth(k * OVERFETCH)  # what retrieve() asks each ranking for under late/hybrid
    strategy = settings.qa.strategy
    steps: dict[str, list[float]] = {}
    counts: list[int] = []

    def timed(step: str, fn: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        result = fn()
        steps.setdefault(step, []).append(time.perf_counter() - began)
        return result

    for i in range(n + 2):
        question = asked(questions, 5000, i)
        vector = timed("encode question", lambda: vectors.encode([question])[0])
        # Each ranking alone, with its clips read; an ask runs `retrieve` (hybrid: both fused, one read).
        timed("vector search joint", lambda: store.search_vector(vector, target="joint", k=depth))
        timed("BM25 search", lambda: store.search_text(question, k=depth))
        found = timed(f"retrieve ({strategy})", lambda: retrieve(store, question, vector, strategy=strategy, k=k * OVERFETCH))
        moments = timed("moments", lambda: service.fitted(SearchRequest(question, k=k, strategy=strategy), found, vector))
        timed("moments JSON", lambda: json.dumps(moments_event("x", moments), ensure_ascii=False))
        evidence = moments[: settings.qa.evidence_moments]
        counts.append(len(candidates(evidence)))

        async def answer() -> Any:
            done = None
            async for event in answerer.answer(question, evidence):
                done = event
            return done

        done = timed("extractive answer", lambda: loop.run_until_complete(answer()))
        timed("answer JSON", lambda: json.dumps(done_event("x", keep_cited_evidence(done, moments)), ensure_ascii=False))
        if i < 2:  # warm-up rounds
            for values in steps.values():
                values.clear()
            counts.clear()
    loop.close()
    medians = {step: round(1000 * (percentile(values, 50) or 0.0), 1) for step, values in steps.items()}
    return {"median_ms": medians, "questions": n, "depth": depth, "mean_answer_candidates": round(sum(counts) / len(counts), 1) if counts else None}


def _recall(store: Any, encoder: Any, questions: Sequence[str], n: int, k: int = 10, held_out: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """recall@k of the store's vector search (through its index, where it has one) against brute-force
    cosine over every stored vector, read back from the table in batches (nothing held in memory).

    Per named vector, over `held_out` queries (vectors drawn like the stored ones but not stored, as ANN
    benchmarks query: a question about something the library holds) when given, and always over `n`
    encoded questions. The questions are unrelated to the synthetic vectors (cosine ~0.1 to every clip):
    queries with no relevant clip, whose neighbours an IVF index finds poorly; reported beside, for honesty.
    """
    vectors = encoder.encode([questions[(i * 3) % len(questions)] for i in range(n)])
    sets = {"questions": {name: vectors for name in VECTOR_NAMES}}
    if held_out is not None:
        sets["held_out"] = held_out
    table = store._open()
    results: dict[str, dict[str, float]] = {}
    for label, by_name in sets.items():
        results[label] = {}
        for name in VECTOR_NAMES:
            truth = _brute_force(table, name, by_name[name], k)
            hits = sum(len(truth[q] & {hit.clip.clip_id for hit in store.search_vector(v, target=name, k=k)}) for q, v in enumerate(by_name[name]))
            results[label][name] = round(hits / (k * len(by_name[name])), 4)
    found = results.get("held_out", results["questions"])
    indexed = [name for name in VECTOR_NAMES if store._ann.indexed(table, name)] if hasattr(store, "_ann") else []
    return {
        "k": k, "queries": len(next(iter(held_out.values()))) if held_out else n,
        "by_target": found, "min": min(found.values()) if found else None, "indexed": indexed,
        "questions_by_target": results["questions"], "questions_min": min(results["questions"].values()),
    }  # fmt: skip


def _brute_force(table: Any, name: str, queries: np.ndarray, k: int) -> list[set[str]]:
    """The ids of the `k` stored clips nearest each query by cosine on vector `name`, by a full scan."""
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    best = [(np.full(0, -np.inf, np.float32), np.empty(0, object)) for _ in unit]
    for batch in table.search().select(["clip_id", name, f"has_{name}"]).limit(None).to_batches(50_000):
        matrix = batch.column(name).flatten().to_numpy(zero_copy_only=False).reshape(batch.num_rows, -1)
        norms = np.linalg.norm(matrix, axis=1)
        cosines = (matrix @ unit.T) / np.where(norms > 0, norms, 1.0)[:, None]
        cosines[~batch.column(f"has_{name}").to_numpy(zero_copy_only=False)] = -np.inf
        ids = np.asarray(batch.column("clip_id").to_pylist(), dtype=object)
        for q in range(len(unit)):
            top = np.argpartition(-cosines[:, q], k)[:k] if len(ids) > k else np.arange(len(ids))
            scores, names = np.concatenate([best[q][0], cosines[top, q]]), np.concatenate([best[q][1], ids[top]])
            keep = np.argsort(-scores, kind="stable")[:k]
            best[q] = (scores[keep], names[keep])
    return [set(names.tolist()) for _, names in best]


# --- the benchmark -------------------------------------------------------------------------------------


def run_query_bench(
    settings: Settings,
    *,
    sizes: Sequence[int] = (10_000, 100_000),
    clients: Sequence[int] = (1, 20),
    duration_s: float = 15.0,
    search_duration_s: float = 8.0,
    warmup_asks: int = 4,
    streams: int = 100,
    profile_queries: int = 12,
    recall_queries: int = 20,
    slow_readers: int = 20,
    watch_counts: Sequence[int] = (1_000, 20_000),
    seed: int = 0,
    vectors: str = "scenes",
    serve_memory: bool = True,
    work_dir: str | Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Load each size of synthetic corpus into a fresh embedded store, serve it, and measure.

    For each size: the load time; per client count, websocket asks in a closed loop for `duration_s`
    (time to `moments` and to `answer.done`, p50/p99) and `POST /v1/search` for `search_duration_s`
    (requests per second); a single-question breakdown of an ask's steps; and recall@10 of the store's
    vector search against brute force. Stores live under `work_dir` (a temporary folder when None) and
    are removed after each size. `vectors`: the corpus's vectors, "scenes" (like video's: see
    bench_corpus.scene_vectors) or "random" (uniform: the worst case for the vector index). Stores of at
    least store.ann_min_rows clips get their vector indexes built after the load (timed); with
    `serve_memory`, the `streammm serve` under test reports its resident memory after 20 searches.
    """
    from dataclasses import replace

    from streammm.models.registry import create_question_encoder
    from streammm.store.embedded import LanceDbClipStore
    from streammm.store.factory import ann_options

    began = time.perf_counter()
    load_before = os.getloadavg()
    pool = load_text_pool()
    questions = pool.questions
    progress("loading the text encoder")
    encoder = create_question_encoder(settings.models)
    dim = int(encoder.dim)
    rows = []
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="streammm-bench-query-")))
        else:
            root = Path(work_dir)
            root.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            data = root / f"clips-{size}"
            if data.exists():
                shutil.rmtree(data)
            progress(f"{size:,} clips: loading into {data}")
            ann = replace(ann_options(settings), auto_build=False)  # trained once, after the load
            store = LanceDbClipStore(data / "clips", dim, optimize_every=settings.store.optimize_every, ann=ann)
            corpus = None
            try:
                corpus, load = load_store(store, size, dim, pool, streams=streams, seed=seed, keep=(), progress=progress, vectors=vectors)
                progress(
                    f"{size:,} clips: loaded in {load['load_s']} s (+{load['generate_s']} s generating; vector indexes {load['vector_index_s']} s); "
                    f"load average {os.getloadavg()[0]:.1f}; measuring"
                )
                run_settings = settings.model_copy(  # loopback, no tokens: the bench is its own client
                    update={
                        "server": settings.server.model_copy(update={"host": "127.0.0.1", "port": 0}),
                        "auth": settings.auth.model_copy(update={"enabled": False}),
                    }
                )
                phases = []
                searches = []
                with _ServeProcess(run_settings, data, root / "bench-settings.yaml") as server:
                    memory = server.resident_memory(questions) if serve_memory else None
                    if memory:
                        progress(f"{size:,} clips: streammm serve resident memory {memory['rss_mb']} MB (peak {memory['peak_rss_mb']} MB)")
                    asyncio.run(_warm_up(server.base, questions, warmup_asks))
                    for n in clients:
                        phase = asyncio.run(_ws_phase(server.base, questions, n, duration_s))
                        progress(
                            f"{size:,} clips, {n} clients: moments p50 {phase['moments']['p50_ms']} ms p99 {phase['moments']['p99_ms']} ms; "
                            f"answer.done p50 {phase['answer_done']['p50_ms']} ms p99 {phase['answer_done']['p99_ms']} ms ({phase['asks']} asks)"
                        )
                        phases.append(phase)
                        search = asyncio.run(_search_phase(server.base, questions, n, search_duration_s))
                        progress(f"{size:,} clips, {n} clients: POST /v1/search {search['per_s']} req/s (p50 {search['latency']['p50_ms']} ms)")
                        searches.append(search)
                    if slow_readers and clients:
                        n = max(clients)
                        beside = asyncio.run(_ws_phase_beside_slow_readers(server.base, questions, n, slow_readers, duration_s))
                        without = next(p for p in phases if p["clients"] == n)
                        ratio = _ratio(beside["moments"]["p99_ms"], without["moments"]["p99_ms"])
                        beside["p99_ratio"] = ratio
                        progress(f"{size:,} clips, {n} clients beside {slow_readers} slow readers: moments p99 {beside['moments']['p99_ms']} ms ({ratio}x without)")
                        phases.append(beside)
                breakdown = None
                if profile_queries:  # in a worker thread, like the server's model and store calls
                    with ThreadPoolExecutor(max_workers=1) as worker:
                        breakdown = worker.submit(_breakdown, store, encoder, settings, questions, profile_queries).result()
                held_out = None
                if vectors == "scenes":  # new vectors of stored windows' scenes (own noise): like a question about one
                    rng = np.random.default_rng([seed, 99])
                    positions = np.sort(rng.choice(size, size=min(recall_queries, size), replace=False))
                    held_out = scene_vectors(rng, positions, dim, streams, seed)
                recall = _recall(store, encoder, questions, recall_queries, held_out=held_out) if recall_queries else None
                if recall:
                    progress(f"{size:,} clips: vector search recall@10 vs brute force {recall['by_target']} (questions: {recall['questions_by_target']})")
                rows.append(
                    {"clips": size, "streams": streams, "load": load, "asks": phases, "search": searches, "breakdown": breakdown, "recall": recall,
                     "serve_memory": memory, "load_average": [round(x, 2) for x in os.getloadavg()]}
                )
            finally:
                store.close()
                corpus = None
                shutil.rmtree(data, ignore_errors=True)
    fanout = watch_fanout(dim, watch_counts, pool) if watch_counts else []
    for row in fanout:
        progress(f"watch fan-out: {row['watches']:,} watches, {row['per_clip']['p50_ms']} ms per clip (p99 {row['per_clip']['p99_ms']} ms)")
    return {
        "bench": "query",
        "machine": {
            "cpus": os.cpu_count(),
            "processor": _cpu_model(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "encoder": f"{settings.models.embedding.profile} question encoder ({settings.models.question_runtime}), {dim}-d",
        "vectors": vectors,
        "vector_index": {"kind": settings.store.ann_index, "min_rows": settings.store.ann_min_rows, "nprobes": settings.store.ann_nprobes, "refine_factor": settings.store.ann_refine_factor},
        "strategy": settings.qa.strategy,
        "answerer": settings.qa.answerer,
        "duration_s": duration_s,
        "search_duration_s": search_duration_s,
        "targets": [{"clips": c, "clients": n, "moments_p50_ms": p50, "moments_p99_ms": p99} for (c, n), (p50, p99) in TARGETS.items()],
        "rows": rows,
        "watch_fanout": fanout,
        "wall_s": round(time.perf_counter() - began, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
