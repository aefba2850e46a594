"""The query benchmark's result as Markdown: latency table, verdict against the target, step breakdown."""

from __future__ import annotations

from typing import Any


def format_query_bench(result: dict[str, Any]) -> str:
    """The result as Markdown: the latency table, the search throughput, the breakdown and recall."""
    machine = result["machine"]
    lines = [
        f"Query latency: {result['strategy']} retrieval, {result['answerer']} answers, {result['encoder']}; "
        f"{machine['cpus']} CPUs ({machine['processor']}), load average {machine['loadavg_before'][0]} before / {machine['loadavg_after'][0]} after; "
        f"closed-loop clients for {result['duration_s']} s each.",
        "",
        "| clips | clients | asks | moments p50 ms | moments p99 ms | answer.done p50 ms | answer.done p99 ms | asks/s | search req/s | search p50 ms | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        for ask, search in zip(row["asks"], row["search"]):
            lines.append(
                f"| {row['clips']:,} | {ask['clients']} | {ask['asks']} | {_cell(ask['moments']['p50_ms'])} | {_cell(ask['moments']['p99_ms'])} | "
                f"{_cell(ask['answer_done']['p50_ms'])} | {_cell(ask['answer_done']['p99_ms'])} | {_cell(ask['asks_per_s'])} | "
                f"{_cell(search['per_s'])} | {_cell(search['latency']['p50_ms'])} | {ask['errors'] + search['errors']} |"
            )
    beside = [(row["clips"], ask) for row in result["rows"] for ask in row["asks"] if ask.get("slow_readers")]
    if beside:
        lines += ["", "| clips | clients | slow readers beside them | moments p50 ms | moments p99 ms | p99 vs without (target ≤ 1.5x) | errors |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for clips, ask in beside:
            lines.append(f"| {clips:,} | {ask['clients']} | {ask['slow_readers']} | {_cell(ask['moments']['p50_ms'])} | "
                         f"{_cell(ask['moments']['p99_ms'])} | {_cell(ask.get('p99_ratio'))}x | {ask['errors']} |")
        lines += ["", "Slow readers: sockets that set a watch and ask for 50 moments 8 times, then never read."]
    if result.get("watch_fanout"):
        lines += ["", "| watches | ms per stored clip p50 | p99 | index build ms (after watches change) |", "|---:|---:|---:|---:|"]
        for row in result["watch_fanout"]:
            lines.append(f"| {row['watches']:,} | {_cell(row['per_clip']['p50_ms'])} | {_cell(row['per_clip']['p99_ms'])} | {row['index_build_ms']} |")
        lines += ["", "Watch fan-out: one clip scored against every watch (all vectors, query words), off the event loop; target < 20 ms at 20,000."]
    verdicts = [(target, _verdict(result, target)) for target in result["targets"]]
    measured = [(target, verdict) for target, verdict in verdicts if verdict is not None]
    if measured:
        lines.append("")
    for target, verdict in measured:
        lines.append(
            f"Target: `moments` p50 ≤ {target['moments_p50_ms']:.0f} ms and p99 ≤ {target['moments_p99_ms']:.0f} ms "
            f"at {target['clips']:,} clips with {target['clients']} clients: {verdict}."
        )
    steps = _steps(result)
    lines += ["", "| " + " | ".join(["clips", "load s (upsert + optimize + vector index)", *steps, "answer candidates", "recall@10"]) + " |"]
    lines.append("|" + "---:|" * (len(steps) + 4))
    for row in result["rows"]:
        breakdown = row.get("breakdown") or {}
        medians = breakdown.get("median_ms", {})
        cells = [f"{row['clips']:,}", str(row["load"]["load_s"]), *(_cell(medians.get(step)) for step in steps)]
        cells += [_cell(breakdown.get("mean_answer_candidates")), _cell((row.get("recall") or {}).get("min"))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += _index_lines(result)
    lines += ["", "Breakdown: median ms of each step of one ask, one question at a time (no server, no concurrency). "
              "'vector search joint' and 'BM25 search' time each ranking alone with its clips read; an ask runs 'retrieve' "
              "(hybrid: the two rankings fused, one read of the winners). "
              "recall@10: the store's vector search against brute-force cosine (lowest over the searched vectors)."]
    return "\n".join(lines)


def _index_lines(result: dict[str, Any]) -> list[str]:
    """Per size: whether vector search went through the index, its build time, recall per named vector, serve memory."""
    rows = [row for row in result["rows"] if row.get("recall") or row.get("serve_memory") or "vector_index_s" in row["load"]]
    if not rows:
        return []
    names = sorted({name for row in rows for name in (row.get("recall") or {}).get("by_target", {})})
    index = result.get("vector_index") or {}
    lines = ["", "| " + " | ".join(["clips", "vector search", "index build s", *(f"recall@10 {n}" for n in names), "serve RSS MB", "load average"]) + " |",
             "|" + "---:|" * (len(names) + 5)]
    for row in rows:
        recall = row.get("recall") or {}
        how = f"{index.get('kind', 'index')} + exact re-rank" if recall.get("indexed") else "exact"
        memory = row.get("serve_memory") or {}
        cells = [f"{row['clips']:,}", how, _cell(row["load"].get("vector_index_s")), *(_cell(recall.get("by_target", {}).get(n)) for n in names),
                 _cell(memory.get("rss_mb")), _cell((row.get("load_average") or [None])[0])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Vectors: {result.get('vectors', 'random')}; index: {index}. recall@10: the store's vector search (through the index where "
              "it has one) against brute-force cosine over every stored vector. serve RSS: a separate `streammm serve` over the store after 20 searches."]
    return lines


def _steps(result: dict[str, Any]) -> list[str]:
    steps: list[str] = []
    for row in result["rows"]:
        for step in (row.get("breakdown") or {}).get("median_ms", {}):
            if step not in steps:
                steps.append(step)
    return steps


def _verdict(result: dict[str, Any], target: dict[str, Any]) -> str | None:
    """Whether the run met `target`; None when it did not measure that size with that many clients."""
    for row in result["rows"]:
        if row["clips"] != target["clips"]:
            continue
        for ask in row["asks"]:
            if ask["clients"] == target["clients"] and not ask.get("slow_readers"):
                p50, p99 = ask["moments"]["p50_ms"], ask["moments"]["p99_ms"]
                if p50 is None or p99 is None:
                    return "not measured (no asks completed)"
                met = p50 <= target["moments_p50_ms"] and p99 <= target["moments_p99_ms"]
                return f"{'met' if met else 'missed'} (p50 {p50} ms, p99 {p99} ms)"
    return None


def _cell(value: object) -> str:
    return "-" if value is None else str(value)
