"""safe_open: the official ``safetensors.safe_open`` API on stsw's reader.

    from stsw import safe_open          # instead of: from safetensors import safe_open
    with safe_open("model.safetensors", framework="pt", device="cpu") as f:
        for k in f.keys():
            t = f.get_tensor(k)
        rows = f.get_slice("embed")[:10]
        md = f.metadata()

As in the official package: ``keys()`` is sorted, ``metadata()`` is the "__metadata__" map
or None, ``get_slice(name)`` returns an object with ``get_shape()``, ``get_dtype()`` (the
safetensors string) and ``[...]`` indexing that reads only the rows it needs (through the
mapping). Frameworks: "pt"/"torch"/"pytorch" and "np"/"numpy". Beyond the official
package: stored crc32 fields are verified (``verify_crc=True``; for get_slice this reads
the whole tensor once), sharded sets open through their index, and ``strict=False``
reads Python stsw 1.0 files. Unknown names raise stsw.UnknownTensorError (a KeyError).
"""

from __future__ import annotations

from typing import Dict, List, Optional

from ._dtypes import NUMPY_RAW, PACKED, error, numpy_dtype, torch_dtype
from .reader import StreamReader

_PT = ("pt", "torch", "pytorch")
_NP = ("np", "numpy")


def check_framework(framework: str) -> str:
    if framework in _PT:
        return "pt"
    if framework in _NP:
        return "np"
    raise error("Unsupported", f"framework {framework!r}: stsw supports 'pt' and 'np'")


class safe_open:  # noqa: N801 - the official name
    def __init__(self, filename, framework: str = "pt", device="cpu", *,
                 verify_crc: bool = True, strict: bool = True):
        self._framework = check_framework(framework)
        self._device = device
        if self._framework == "np" and str(device) != "cpu":
            raise error("InvalidArgument", f"framework 'np' reads to the CPU, not {device!r}")
        self._reader = StreamReader(filename, verify_crc=verify_crc, strict=strict)

    def keys(self) -> List[str]:
        return sorted(self._reader.keys())

    def offset_keys(self) -> List[str]:
        """Names in file order."""
        return self._reader.keys()

    def metadata(self) -> Optional[Dict[str, str]]:
        if not self._reader._r.has_metadata():
            return None
        return self._reader.metadata

    def get_tensor(self, name: str):
        if self._framework == "pt":
            return self._reader.to_torch(name, device=self._device)
        return self._reader.to_numpy(name)

    def get_slice(self, name: str) -> "SafeSlice":
        return SafeSlice(self, name)

    def __enter__(self) -> "safe_open":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._reader.close()
        return False


class SafeSlice:
    """A lazily read tensor: ``[...]`` reads the selected elements only."""

    def __init__(self, owner: safe_open, name: str):
        self._owner = owner
        self._meta = owner._reader.meta(name)

    def get_shape(self) -> List[int]:
        return list(self._meta.shape)

    def get_dtype(self) -> str:
        return self._meta.dtype

    def __len__(self) -> int:
        if not self._meta.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._meta.shape[0]

    def __getitem__(self, index):
        import numpy as np

        m = self._meta
        if m.dtype in PACKED:
            raise error("Unsupported", f"tensor '{m.name}': slicing packed {m.dtype} data")
        view = self._owner._reader._r.get_slice(m.name)  # zero-copy mapping
        dt = numpy_dtype(m.dtype, m.name, raw=True)
        part = np.array(np.frombuffer(view, dtype=dt).reshape(m.shape)[index], copy=True)
        if self._owner._framework == "np":
            if m.dtype in NUMPY_RAW:
                numpy_dtype(m.dtype, m.name)  # raises: NumPy has no such type
            return part
        import torch

        tdt = torch_dtype(m.dtype, m.name)
        if m.dtype in NUMPY_RAW:
            t = torch.from_numpy(part.view(np.int16 if dt.itemsize == 2 else np.uint8)).view(tdt)
        else:
            t = torch.from_numpy(part)
        dev = torch.device(self._owner._device)
        return t if dev.type == "cpu" else t.to(dev)
