"""Logging set-up: plain text by default, one JSON object per line when `log.json_format` is on."""

from __future__ import annotations

import json
import logging
import sys

from streammm.config import LogConfig

NOISY = ("RapidOCR", "faster_whisper", "sentence_transformers", "httpx", "aiokafka", "kafka")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(config: LogConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if config.json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
