"""``safetensors.numpy``'s file functions on stsw: switch with one import.

    from stsw.numpy import save_file, load_file   # instead of: from safetensors.numpy import ...

See stsw.torch for the differences from the official writer.
"""

from __future__ import annotations

from typing import Dict, Optional

from .dump import dump, load


def save_file(tensor_dict: Dict[str, object], filename,
              metadata: Optional[Dict[str, str]] = None, **kwargs) -> None:
    dump(tensor_dict, filename, metadata=metadata, **kwargs)


def load_file(filename, **kwargs) -> Dict[str, object]:
    return load(filename, framework="np", **kwargs)
