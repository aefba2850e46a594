"""The ONNX Runtime MiniLM gives the sentence-transformers vectors: stored and new vectors stay comparable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streammm.config import ModelsConfig
from streammm.models.onnx_text import OnnxMiniLmTextEncoder
from streammm.models.registry import create_question_encoder, create_text_encoder
from streammm.models.text import MiniLmTextEncoder

pytestmark = pytest.mark.integration


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def questions(media: Path) -> list[str]:
    """The dev and the larger set's labelled questions (73)."""
    files = (media / "queries.json", REPO / "tools/media/queries-extra.json")
    return [q["query"] for f in files for q in json.loads(f.read_text())["queries"]]


@pytest.fixture(scope="module")
def torch_vectors(questions: list[str]) -> np.ndarray:
    return MiniLmTextEncoder().encode(questions)


def test_onnx_vectors_match_the_torch_ones_on_the_dev_questions(questions: list[str], torch_vectors: np.ndarray, tmp_path_factory) -> None:
    encoder = OnnxMiniLmTextEncoder(cache_dir=tmp_path_factory.mktemp("onnx"))
    vectors = encoder.encode(questions)
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    cosines = (vectors * torch_vectors).sum(axis=1)
    assert cosines.min() >= 0.99
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    batched, alone = encoder.encode(questions[:5]), np.stack([encoder.encode([q])[0] for q in questions[:5]])
    np.testing.assert_allclose(batched, alone, atol=1e-5)  # padding in a batch changes nothing
    assert encoder.encode([]).shape == (0, 384)


@pytest.fixture(scope="module")
def int8_encoder(tmp_path_factory) -> OnnxMiniLmTextEncoder:
    return OnnxMiniLmTextEncoder(int8=True, cache_dir=tmp_path_factory.mktemp("onnx8"))


def test_int8_vectors_are_close_but_not_the_same(questions: list[str], torch_vectors: np.ndarray, int8_encoder) -> None:
    """int8 weights move the vectors a little: with a scale per output channel, cosine 0.98-1.00 to the
    float ones on these questions (one scale per weight matrix gave 0.88 at worst, and moved the moments of
    some). Questions are encoded with them by default, against the float vectors stored."""
    vectors = int8_encoder.encode(questions)
    cosines = (vectors * torch_vectors).sum(axis=1)
    assert 0.97 <= cosines.min() and cosines.mean() < 0.9999


def test_an_int8_vector_does_not_depend_on_the_texts_encoded_beside_it(questions: list[str], int8_encoder) -> None:
    """The answerer encodes a moment's candidates together: short on-screen lines beside long sentences. The
    int8 graph quantises activations with one scale over its whole input, so a text's vector moved with
    its batch (up to 0.06 in a component) and answers depended on what had been encoded with what."""
    alone = np.stack([int8_encoder.encode([q])[0] for q in questions[:12]])
    beside = int8_encoder.encode(["OK", *questions[:12], "and mister john dashwood had then leisure to consider " * 8])[1:13]
    np.testing.assert_array_equal(alone, beside)


def test_the_registry_picks_the_runtime() -> None:
    assert isinstance(create_text_encoder(ModelsConfig(text_runtime="onnx")), OnnxMiniLmTextEncoder)
    assert isinstance(create_text_encoder(ModelsConfig(text_runtime="torch")), MiniLmTextEncoder)
    # what is stored is encoded in float, questions in int8 unless told otherwise
    assert not create_text_encoder(ModelsConfig()).int8
    assert create_question_encoder(ModelsConfig()).int8
    assert not create_question_encoder(ModelsConfig(question_runtime="onnx")).int8
    assert isinstance(create_question_encoder(ModelsConfig(question_runtime="torch")), MiniLmTextEncoder)
