"""Where inference runs: a bounded thread pool (never the event loop) and the torch device."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from streammm.errors import ModelError

T = TypeVar("T")
log = logging.getLogger(__name__)

# Model packages must never reach for a hub: everything streammm loads ships in installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class InferencePool:
    """A bounded pool of threads for model calls; the native kernels release the GIL."""

    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="streammm-model")

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        return self._executor.submit(fn, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def torch_device(device: str) -> str:
    """The torch device to use, or a clear error when CUDA is asked for and absent."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("models.device is 'cuda' but no CUDA device is available; use 'cpu'")
    return device


def configure_threads(threads: int) -> None:
    """Cap torch's intra-op threads so parallel stages do not oversubscribe the cores."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
