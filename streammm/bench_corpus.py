"""The query benchmark's synthetic corpus: clips cut from the real development text, and loading them."""

from __future__ import annotations

import functools
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streammm.paths import shared_media
from streammm.records import VECTOR_NAMES, Clip, Word
from streammm.store.base import clip_id

PROFILE = "synthetic"
LOAD_BATCH = 5_000


@dataclass(frozen=True)
class TextPool:
    """Real development text: timed utterances (words relative to the utterance start), plain sentences
    for speech, lines of on-screen text, and questions."""

    timed: tuple[tuple[tuple[float, float, str], ...], ...]  # per utterance: (start, end, word), start at 0
    speech: tuple[str, ...]
    screen: tuple[str, ...]
    questions: tuple[str, ...]


def load_text_pool(media: Path | None = None) -> TextPool:
    """Read the dev transcripts, on-screen texts and queries from the shared media folder."""
    root = media or shared_media()
    words_doc = json.loads((root / "derived" / "narrated_slideshow.words.json").read_text())
    words = [(float(w["start"]), float(w["end"]), str(w["word"])) for w in words_doc["words"]]
    timed = []
    for utt in words_doc["utterances"]:
        inside = [w for w in words if utt["start"] - 0.05 <= w[0] and w[1] <= utt["end"] + 0.05]
        if inside:
            t0 = inside[0][0]
            timed.append(tuple((round(s - t0, 3), round(e - t0, 3), text) for s, e, text in inside))
    speech = [u["text"] for u in words_doc["utterances"]]
    audio = root / "audio"
    for path in sorted(audio.glob("librivox/*.txt")) + sorted(audio.glob("*/*.transcription")):
        for line in path.read_text().splitlines():
            text = re.sub(r"</?s>|\([^)]*\)\s*$", " ", line).strip()
            if text:
                speech.append(" ".join(text.split()))
    for path in sorted(audio.glob("*/*.stm")):
        for line in path.read_text().splitlines():
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip():
                speech.append(parts[5].strip())
    screen = ["Sense and Sensibility, chapter one", *(s["text"] for s in words_doc.get("slides", []))]
    for path in sorted((root / "ocr").glob("*.gt.txt")):
        screen += [line.strip() for line in path.read_text(errors="replace").splitlines() if len(line.strip()) >= 4]
    for path in sorted((root / "annotations").glob("*.segments.json")):
        screen += [s["text"] for s in json.loads(path.read_text()).get("segments", [])]
    queries = [q["query"] for q in json.loads((root / "queries.json").read_text())["queries"]]
    questions = [*queries, *speech[: len(queries)]]
    return TextPool(tuple(timed), tuple(dict.fromkeys(speech)), tuple(dict.fromkeys(screen)), tuple(dict.fromkeys(questions)))


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """`n` random unit vectors (float32, rows)."""
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


SCENE_WINDOWS = 30  # "scenes" vectors: a stream stays on one topic for this many windows (a minute at a 2 s stride)
TOPICS = 2_000  # distinct topics per vector name
TOPIC_NOISE = 0.75  # a clip's vector is its topic's plus noise of this length: cosine ~0.8 to the topic


@functools.cache
def _topics(dim: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    return {name: unit_vectors(rng, TOPICS, dim) for name in VECTOR_NAMES}


def scene_vectors(rng: np.random.Generator, index: np.ndarray, dim: int, streams: int, seed: int) -> dict[str, np.ndarray]:
    """Vectors shaped like video's: clip i (stream i % streams, window i // streams) lies near the topic of
    its stream's current scene, so neighbouring windows of a stream are alike and topics recur across
    streams, as in real embeddings. (Uniform random vectors have no neighbourhoods at all: every approximate
    index is at its worst on them, and no real corpus looks like that.)"""
    stream, scene = index % streams, (index // streams) // SCENE_WINDOWS
    topic = (stream * 7_919 + scene * 104_729 + seed * 31) % TOPICS
    out = {}
    for name, centres in _topics(dim, seed).items():
        noisy = centres[topic] + TOPIC_NOISE * rng.standard_normal((len(index), dim), dtype=np.float32) / np.sqrt(dim, dtype=np.float32)
        out[name] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return out


def synthetic_clips(
    n: int,
    dim: int,
    pool: TextPool,
    *,
    streams: int = 100,
    window_s: float = 4.0,
    stride_s: float = 2.0,
    words_share: float = 0.25,
    seed: int = 0,
    offset: int = 0,
    vectors: str = "random",
) -> list[Clip]:
    """Clips `offset`..`offset + n - 1` of a synthetic corpus (the same seed always gives the same corpus
    in the same order, so a large corpus can be made in batches): clip i belongs to stream
    `synthetic-{i % streams:03d}` at window `i // streams`, so every stream grows evenly. `vectors`:
    "random" (uniform unit vectors) or "scenes" (see scene_vectors)."""
    rng = np.random.default_rng([seed, offset])
    if vectors == "scenes":
        vectors_by_name = scene_vectors(rng, np.arange(offset, offset + n), dim, streams, seed)
    else:
        vectors_by_name = {name: unit_vectors(rng, n, dim) for name in VECTOR_NAMES}
    pick = random.Random(f"{seed}-{offset}")
    clips = []
    for row in range(n):
        i = offset + row
        stream = f"synthetic-{i % streams:03d}"
        start = (i // streams) * stride_s
        end = start + window_s
        words: tuple[Word, ...] = ()
        if pool.timed and pick.random() < words_share:
            utterance = pick.choice(pool.timed)
            scale = min(1.0, window_s / max(utterance[-1][1], 1e-6))  # squeeze it into the window
            words = tuple(Word(round(start + s * scale, 3), round(start + e * scale, 3), text) for s, e, text in utterance)
            transcript = " ".join(w.text for w in words)
        else:
            transcript = pick.choice(pool.speech) if pool.speech else ""
        ocr_text = "\n".join(pick.sample(pool.screen, k=min(2, len(pool.screen)))) if pool.screen else ""
        clips.append(
            Clip(
                clip_id=clip_id(stream, start, PROFILE),
                stream_id=stream,
                start_s=start,
                end_s=end,
                profile=PROFILE,
                transcript=transcript,
                ocr_text=ocr_text,
                words=words,
                # A frame a second, as the pipeline samples them: a stored clip carries each one's vector.
                frame_times=tuple(start + t for t in range(int(window_s))),
                frame_vectors=np.repeat(vectors_by_name["visual"][row][None, :], int(window_s), axis=0),
                vectors={name: vectors_by_name[name][row] for name in VECTOR_NAMES},
            )
        )
    return clips


@dataclass
class Corpus:
    """What the bench keeps of the loaded corpus: the vectors of the searched names (for the recall check)."""

    vectors: dict[str, np.ndarray]
    clip_ids: list[str]


def load_store(
    store: Any, n: int, dim: int, pool: TextPool, *, streams: int, seed: int, keep: Sequence[str], progress: Callable[[str], None], vectors: str = "random"
) -> tuple[Corpus, dict[str, float]]:
    """Upsert `n` synthetic clips in batches through the store's public API, then fold them into its indexes
    (BM25 and filters by optimize(); vector indexes, where the store builds them, trained once at the end)."""
    kept: dict[str, list[np.ndarray]] = {name: [] for name in keep}
    ids: list[str] = []
    make_s = upsert_s = 0.0
    for offset in range(0, n, LOAD_BATCH):
        began = time.perf_counter()
        batch = synthetic_clips(min(LOAD_BATCH, n - offset), dim, pool, streams=streams, seed=seed, offset=offset, vectors=vectors)
        made = time.perf_counter()
        store.upsert(batch)
        upsert_s += time.perf_counter() - made
        make_s += made - began
        ids += [c.clip_id for c in batch]
        for name in keep:
            kept[name].append(np.stack([c.vectors[name] if name in c.vectors else np.zeros(dim, np.float32) for c in batch]))
        if (offset // LOAD_BATCH) % 5 == 4:
            progress(f"  loaded {offset + len(batch):,} / {n:,} clips")
    began = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - began
    build = getattr(store, "build_vector_indexes", None)
    index_s = build() if build is not None else 0.0
    corpus = Corpus({name: np.concatenate(parts) for name, parts in kept.items()}, ids)
    return corpus, {
        "generate_s": round(make_s, 1), "upsert_s": round(upsert_s, 1), "optimize_s": round(optimize_s, 1),
        "vector_index_s": round(index_s, 1), "load_s": round(upsert_s + optimize_s + index_s, 1),
    }  # fmt: skip
