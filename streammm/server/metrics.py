"""Prometheus metrics of one server: request latency, pipeline lag, clips stored, sockets, watches."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streammm.stats import SOURCE_STATES, PipelineStats

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "streammm_request_seconds", "Time to the moments event, to answer.done, and per POST /v1/search",
            ["stage"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.errors = Counter("streammm_request_errors_total", "Requests answered with an error, by code", ["code"], registry=r)
        self.connections = Gauge("streammm_ws_connections", "Open websocket connections", registry=r)
        self.watches = Gauge("streammm_watches", "Active watches", registry=r)
        self.matches = Counter("streammm_watch_matches_total", "Match events pushed to watches", registry=r)
        self.removed_citations = Counter(
            "streammm_citations_removed_total", "Citations made by the generator that pointed at no evidence", registry=r
        )
        self.clips_stored = Gauge("streammm_clips_stored", "Clips in the store", registry=r)
        self.clips_incomplete = Gauge(
            "streammm_clips_incomplete", "Stored clips that still wait for a modality (provisional or never completed)", registry=r
        )
        self.stream_incomplete = Gauge(
            "streammm_stream_clips_incomplete", "Provisional clips of each stream (streammm up only)", ["stream_id"], registry=r
        )
        self.modality_lag = Gauge(
            "streammm_worker_lag_records", "Records a role's workers have not handled, from their heartbeats (streammm up only)",
            ["role"], registry=r,
        )
        self.clip_event_delay = Gauge(
            "streammm_clip_event_delay_seconds", "From a clip being stored to the server hearing of it (last clip)", registry=r
        )
        self.pipeline_lag = Gauge(
            "streammm_pipeline_lag_seconds", "Media seconds ingested but not yet stored as clips (streammm up only)",
            ["stream_id"], registry=r,
        )
        self.freshness = Gauge(
            "streammm_pipeline_freshness_seconds", "Wall time from a window's media arriving to its clip being stored (last clip)",
            ["stream_id"], registry=r,
        )

        self.source_state = Gauge(
            "streammm_source_state", "1 for each source's current state (connecting, live, reconnecting, ended, stopped, failed, done)",
            ["stream_id", "state"], registry=r,
        )
        self.source_up = Gauge("streammm_source_up", "1 while a source delivers media (state live), else 0", ["stream_id"], registry=r)
        self.source_reconnects = Gauge(
            "streammm_source_reconnects", "A source's drops and failed connection attempts so far", ["stream_id"], registry=r
        )
        self.source_gaps = Gauge("streammm_source_gaps", "Holes a source's drops left in its timeline", ["stream_id"], registry=r)
        self.source_gap_seconds = Gauge(
            "streammm_source_gap_seconds", "Media seconds a source's drops left out of its timeline", ["stream_id"], registry=r
        )
        self.source_crashes = Gauge(
            "streammm_source_publisher_crashes", "Times a source's publisher failed unexpectedly (each restarted)", ["stream_id"], registry=r
        )

        self.sample_fps = Gauge(
            "streammm_stream_sample_fps", "Frame sample rate of a stream's newest clip (streammm up only)", ["stream_id"], registry=r
        )
        self.thinned = Gauge(
            "streammm_stream_thinned", "1 while a stream is behind and its frames are thinned (streammm up only)", ["stream_id"], registry=r
        )
        self.thinned_clips = Gauge(
            "streammm_stream_thinned_clips", "Clips of a stream written with thinned frames so far (streammm up only)", ["stream_id"], registry=r
        )

    def clip_heard(self, stored_at: float) -> None:
        self.clip_event_delay.set(max(0.0, time.time() - stored_at))

    def render(self, clips_stored: int | None, stats: PipelineStats | None, clips_incomplete: int | None = None) -> bytes:
        if clips_stored is not None:
            self.clips_stored.set(clips_stored)
        if clips_incomplete is not None:
            self.clips_incomplete.set(clips_incomplete)
        if stats is not None:
            for stream_id, count in stats.incomplete_clips().items():
                self.stream_incomplete.labels(stream_id).set(count)
            for role, heard in dict(stats.heard).items():
                self.modality_lag.labels(role).set(heard.lag)
            for stream_id, src in stats.sources().items():
                for state in SOURCE_STATES:
                    self.source_state.labels(stream_id, state).set(1 if src.state == state else 0)
                self.source_up.labels(stream_id).set(1 if src.state == "live" else 0)
                self.source_reconnects.labels(stream_id).set(src.reconnects)
                self.source_gaps.labels(stream_id).set(src.gaps)
                self.source_gap_seconds.labels(stream_id).set(src.gap_s)
                self.source_crashes.labels(stream_id).set(src.crashes)
            for stream_id, (fps, thinned, count) in stats.sampling().items():
                self.sample_fps.labels(stream_id).set(fps)
                self.thinned.labels(stream_id).set(1 if thinned else 0)
                self.thinned_clips.labels(stream_id).set(count)
            for stream_id, lag, freshness in stats.snapshot():
                self.pipeline_lag.labels(stream_id).set(lag)
                if freshness is not None:
                    self.freshness.labels(stream_id).set(freshness)
        return generate_latest(self.registry)
