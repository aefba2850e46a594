"""WeaviateClipStore against a real Weaviate: the shared ClipStore contract, when WEAVIATE_URL is set.

No Weaviate server can run on the development machines, so this is skipped unless WEAVIATE_URL points at
one (e.g. `http://localhost:8080`, started with docker/). gRPC is expected on WEAVIATE_GRPC_HOST (default:
the URL's host) and WEAVIATE_GRPC_PORT (default 50051); WEAVIATE_API_KEY is sent when set. Each test uses
its own collection and deletes it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from store_contract import DIM, ClipStoreContract

from streammm.config import WeaviateConfig
from streammm.store.weaviate import WeaviateClipStore, connect

WEAVIATE_URL = os.environ.get("WEAVIATE_URL", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not WEAVIATE_URL,
        reason="WEAVIATE_URL is not set: no real Weaviate to run the store contract against "
        "(test_store_weaviate_standin.py still runs it against the in-process stand-in)",
    ),
]


def weaviate_config(collection: str) -> WeaviateConfig:
    url = urlsplit(WEAVIATE_URL)
    return WeaviateConfig(
        http_url=WEAVIATE_URL,
        grpc_host=os.environ.get("WEAVIATE_GRPC_HOST") or url.hostname or "127.0.0.1",
        grpc_port=int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")),
        api_key=os.environ.get("WEAVIATE_API_KEY") or None,
        collection=collection,
    )


def drop_collection(config: WeaviateConfig) -> None:
    client = connect(config)
    try:
        client.collections.delete(config.collection)
    finally:
        client.close()


class TestWeaviateStore(ClipStoreContract):
    @pytest.fixture
    def store_factory(self) -> Iterator[Callable[[], WeaviateClipStore]]:
        config = weaviate_config(f"StreammmTest_{uuid.uuid4().hex[:12]}")
        yield lambda: WeaviateClipStore(config, DIM)
        drop_collection(config)
