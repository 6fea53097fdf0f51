"""``safetensors.torch``'s file functions on stsw: switch with one import.

    from stsw.torch import save_file, load_file   # instead of: from safetensors.torch import ...

``save_file(tensors, filename, metadata=None)`` writes through stsw.dump (canonical order,
with stsw's defaults: crc32 fields and a 64-byte aligned data region, both readable by
the official loader); tensors that share memory are each stored under their own name
(the official save_file refuses them). ``load_file(filename, device="cpu")`` is
stsw.load(framework="pt").

Multi-rank checkpoints: ``stsw.torch.distributed.save / load`` and ``stsw.torch.Shard``
(the module stsw.distributed, docs/distributed.md).
"""

from __future__ import annotations

from typing import Dict, Optional

from . import distributed
from .distributed import Shard
from .distributed import save_async as _dist_save_async
from .dump import dump, load


def save_file(tensors: Dict[str, object], filename, metadata: Optional[Dict[str, str]] = None,
              **kwargs) -> None:
    dump(tensors, filename, metadata=metadata, **kwargs)


def load_file(filename, device="cpu", **kwargs) -> Dict[str, object]:
    return load(filename, framework="pt", device=device, **kwargs)


def save_async(tensors: Dict[str, object], filename, **kwargs):
    """Saves in the background after snapshotting `tensors` to host memory; returns a
    concurrent.futures.Future. One process: `filename` is a directory or a ".safetensors"
    name (stsw.distributed.save_async without a process group; pass process_group= for the
    multi-rank form). A second call while one is in flight waits for it first."""
    return _dist_save_async(tensors, filename, **kwargs)
