"""``safetensors.torch``'s file functions on stsw: switch with one import.

    from stsw.torch import save_file, load_file   # instead of: from safetensors.torch import ...

``save_file(tensors, filename, metadata=None)`` writes through stsw.dump (canonical order,
with stsw's defaults: crc32 fields and a 64-byte aligned data region, both readable by
the official loader); tensors that share memory are each stored under their own name
(the official save_file refuses them). ``load_file(filename, device="cpu")`` is
stsw.load(framework="pt").
"""

from __future__ import annotations

from typing import Dict, Optional

from .dump import dump, load


def save_file(tensors: Dict[str, object], filename, metadata: Optional[Dict[str, str]] = None,
              **kwargs) -> None:
    dump(tensors, filename, metadata=metadata, **kwargs)


def load_file(filename, device="cpu", **kwargs) -> Dict[str, object]:
    return load(filename, framework="pt", device=device, **kwargs)
