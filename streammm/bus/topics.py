"""Topic names and their settings."""

from __future__ import annotations

from dataclasses import dataclass

from streammm.config import KafkaConfig

MODALITY_TOPICS = {"visual": "obs.vision.v1", "speech": "obs.speech.v1", "ocr": "obs.ocr.v1"}


@dataclass(frozen=True)
class Topics:
    segments: str
    vision: str
    speech: str
    ocr: str
    clips: str
    dlq: str
    heartbeats: str

    @classmethod
    def from_config(cls, config: KafkaConfig) -> Topics:
        p = config.topic_prefix
        return cls(
            segments=f"{p}.segments.v1",
            vision=f"{p}.{MODALITY_TOPICS['visual']}",
            speech=f"{p}.{MODALITY_TOPICS['speech']}",
            ocr=f"{p}.{MODALITY_TOPICS['ocr']}",
            clips=f"{p}.clips.v1",
            dlq=f"{p}.dlq.v1",
            heartbeats=f"{p}.heartbeats.v1",
        )

    def observation(self, modality: str) -> str:
        return {"visual": self.vision, "speech": self.speech, "ocr": self.ocr}[modality]

    def all(self) -> tuple[str, ...]:
        return (self.segments, self.vision, self.speech, self.ocr, self.clips, self.dlq, self.heartbeats)
