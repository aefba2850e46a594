"""Run streammm's CUDA model paths once and compare them with the CPU (`python tools/gpu_check.py`).

Covers the torch models: the `clip` profile (open_clip ViT-B-32, random weights saved to a local
checkpoint, so no hub) and the `bundled` vision model (EfficientNet-Lite0). Prints JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


class HashTextEncoder:
    """Deterministic stand-in text encoder for the ConSE class vectors (the device path is what is checked)."""

    dim = 384

    def encode(self, texts):
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.dim) for t in texts]
        matrix = np.asarray(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def images(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


def timed(fn, *args, repeat: int = 3):
    fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeat):
        out = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, (time.perf_counter() - started) / repeat


def main(image_dir: str) -> None:
    import open_clip

    from streammm.config import BundledProfileConfig, ClipProfileConfig
    from streammm.models.bundled_vision import EfficientNetConseImageEncoder
    from streammm.models.clip import OpenClipModel

    report: dict[str, object] = {
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    pictures = images(Path(image_dir))
    batch = (pictures * 32)[:64]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "vit-b-32-random.pt"
        torch.manual_seed(0)
        torch.save(open_clip.create_model("ViT-B-32", pretrained=None).state_dict(), checkpoint)
        options = ClipProfileConfig(arch="ViT-B-32", pretrained=str(checkpoint))
        cpu, gpu = OpenClipModel(options, device="cpu"), OpenClipModel(options, device="cuda")
        texts = ["a cat", "a cup of coffee", "a red motorcycle"]
        img_cpu, img_gpu = cpu.encode_images(pictures), gpu.encode_images(pictures)
        txt_cpu, txt_gpu = cpu.encode_text(texts), gpu.encode_text(texts)
        _, cpu_s = timed(cpu.encode_images, batch, repeat=1)
        _, gpu_s = timed(gpu.encode_images, batch)
        report["clip"] = {
            "image_max_abs_diff_vs_cpu": float(np.abs(img_cpu - img_gpu).max()),
            "text_max_abs_diff_vs_cpu": float(np.abs(txt_cpu - txt_gpu).max()),
            "unit_norm": bool(np.allclose(np.linalg.norm(img_gpu, axis=1), 1, atol=1e-4)),
            "images_per_s_cpu": round(len(batch) / cpu_s, 1),
            "images_per_s_cuda": round(len(batch) / gpu_s, 1),
        }
    encoders = {d: EfficientNetConseImageEncoder(BundledProfileConfig(detectors=False), HashTextEncoder(), device=d) for d in ("cpu", "cuda")}
    probs = {d: e.class_probabilities(pictures) for d, e in encoders.items()}
    _, cpu_s = timed(encoders["cpu"].encode, batch, repeat=1)
    _, gpu_s = timed(encoders["cuda"].encode, batch)
    report["efficientnet_lite0"] = {
        "top1_same_as_cpu": bool((probs["cpu"].argmax(1) == probs["cuda"].argmax(1)).all()),
        "prob_max_abs_diff_vs_cpu": float(np.abs(probs["cpu"] - probs["cuda"]).max()),
        "frames_per_s_cpu": round(len(batch) / cpu_s, 1),
        "frames_per_s_cuda": round(len(batch) / gpu_s, 1),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    from streammm.paths import shared_media  # $STREAMMM_MEDIA_DIR, else ../shared/media (tools/fetch-media.sh rebuilds it)

    main(sys.argv[1] if len(sys.argv) > 1 else str(shared_media() / "images" / "skimage"))
