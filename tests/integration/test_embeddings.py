"""The embedding profiles: bundled (quality on real photos) and clip (load path, shapes, normalisation)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

# Captions written from the photo descriptions in ../shared/media/MANIFEST.md.
CAPTIONS = {
    "a cat": "skimage/chelsea.png",
    "a cup of coffee": "skimage/coffee.png",
    "an astronaut in an orange suit": "skimage/astronaut.png",
    "a rocket on the launch pad at night": "skimage/rocket.jpg",
    "a red motorcycle in a garage": "skimage/motorcycle_left.png",
    "a man with a film camera on a tripod": "skimage/camera.png",
    "a footballer kicking a ball": "opencv/messi5.jpg",
    "a butterfly": "opencv/butterfly.jpg",
    "a squirrel": "opencv/squirrel_cls.jpg",
    "a circuit board": "opencv/board.jpg",
}


def load_photos(media: Path) -> tuple[list[str], list[np.ndarray]]:
    from PIL import Image

    names = sorted(
        f"{folder}/{p.name}" for folder in ("skimage", "opencv") for p in (media / "images" / folder).iterdir()
    )
    images = [np.asarray(Image.open(media / "images" / n).convert("RGB")) for n in names]
    return names, images


@pytest.fixture(scope="module")
def photo_ranking(perceiver, media):
    names, images = load_photos(media)
    embedder = perceiver.models.embedder
    vectors = embedder.image.encode(images).vectors
    queries = embedder.text.encode(list(CAPTIONS))
    best = [names[int(i)] for i in np.argmax(queries @ vectors.T, axis=1)]
    return dict(zip(CAPTIONS, best))


def test_bundled_ranks_the_named_photos_first(photo_ranking):
    assert photo_ranking["a cat"] == "skimage/chelsea.png"
    assert photo_ranking["a cup of coffee"] == "skimage/coffee.png"


def test_bundled_gets_most_captions_right(photo_ranking):
    right = sum(photo_ranking[caption] == photo for caption, photo in CAPTIONS.items())
    print(f"\nbundled profile: {right}/{len(CAPTIONS)} captions rank their photo first")
    assert right >= 6, photo_ranking


def test_bundled_vectors_share_the_text_space(perceiver):
    embedder = perceiver.models.embedder
    text = embedder.text.encode(["a dog", "a dog"])
    assert text.shape == (2, embedder.text.dim) and embedder.image.dim == embedder.text.dim
    assert np.allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def clip_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised ViT-B-32 saved to disk: exercises the offline load path, not quality."""
    import open_clip
    import torch

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    path = tmp_path_factory.mktemp("clip") / "vit-b-32-random.pt"
    torch.save(model.state_dict(), path)
    return path


def test_clip_profile_loads_a_local_checkpoint_and_embeds(clip_checkpoint, media):
    from streammm.config import load_settings
    from streammm.models.registry import create_embedder

    settings = load_settings(env={}, overrides={"models.embedding.profile": "clip", "models.embedding.clip.pretrained": str(clip_checkpoint)})
    embedder = create_embedder(settings.models)
    assert embedder.version.startswith("clip-ViT-B-32")
    _, images = load_photos(media)
    single = embedder.image.encode(images[:1])
    batch = embedder.image.encode(images[:4])
    assert single.vectors.shape == (1, 512) and batch.vectors.shape == (4, 512)
    assert np.allclose(single.vectors[0], batch.vectors[0], atol=1e-4)
    assert np.allclose(np.linalg.norm(batch.vectors, axis=1), 1.0, atol=1e-5)
    assert len(batch.tags) == 4
    text = embedder.text.encode(["a cat", "a dog", "a car"])
    assert text.shape == (3, 512) and np.allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.text.encode(["a cat"])[0], text[0], atol=1e-4)


def test_clip_profile_reports_missing_weights_clearly(tmp_path):
    from streammm.config import load_settings
    from streammm.errors import ModelError
    from streammm.models.clip import OpenClipModel

    settings = load_settings(env={}, overrides={"models.embedding.clip.pretrained": str(tmp_path / "nope.pt")})
    with pytest.raises(ModelError, match="not found"):
        OpenClipModel(settings.models.embedding.clip)


@pytest.mark.skipif(not os.environ.get("STREAMMM_CLIP_PRETRAINED"), reason="set STREAMMM_CLIP_PRETRAINED to real open_clip weights")
def test_clip_profile_quality_with_real_weights(media):
    from streammm.config import load_settings
    from streammm.models.registry import create_embedder

    settings = load_settings(
        env={},
        overrides={
            "models.embedding.profile": "clip",
            "models.embedding.clip.pretrained": os.environ["STREAMMM_CLIP_PRETRAINED"],
            "models.embedding.clip.arch": os.environ.get("STREAMMM_CLIP_ARCH", "ViT-B-32"),
        },
    )
    embedder = create_embedder(settings.models)
    names, images = load_photos(media)
    vectors = embedder.image.encode(images).vectors
    best = np.argmax(embedder.text.encode(list(CAPTIONS)) @ vectors.T, axis=1)
    right = sum(names[int(i)] == photo for i, photo in zip(best, CAPTIONS.values()))
    assert right >= 8
