"""StreamReader: zero-copy, streaming and CRC-verified reads (the C++ stsw::StreamReader).

``StreamReader(path, *, verify_crc=True, strict=True, mmap=True)`` opens a .safetensors
file or a sharded set (a path ending in ``.json``, e.g. ``model.safetensors.index.json``)
and reads its header only. ``strict=False`` also reads Python stsw 1.0 files (holes
between tensors, ``__version__``). Data is read on demand:

* ``to_numpy(name)`` / ``to_torch(name)``: allocate the array or tensor, then one engine
  read from disk straight into it (O_DIRECT when the file is not cached), the CRC checked
  as chunks land when ``verify_crc``. No other copy.
* ``to_numpy(name, copy=False)`` and ``get_slice(name)``: a read-only zero-copy view of the
  file's mapping (needs ``mmap=True``); the CRC is checked on the first access. The view
  keeps the mapping alive after the reader is closed; do not truncate the file under it
  (SIGBUS, as with any mmap).
* ``read_into(name, out)``: into any writable buffer (or contiguous CPU torch tensor)
  holding exactly ``meta(name).nbytes`` bytes; returns a :class:`stsw.ReadFuture` at once.
* Read-ahead: ``to_torch``/``to_numpy`` (copy=True, CPU) called tensor after tensor in
  file order start the next tensors' reads before they are asked for, at most
  ``read_ahead`` bytes of them (default 256 MiB; 0 turns it off), so the device never
  idles between calls; see stsw/_read_ahead.py for the contract.

Every blocking call releases the GIL. Errors are stsw.Error (UnknownTensor is also a
KeyError). The reader is safe to use from many threads; ``close()`` (or leaving the
``with`` block) ends it: later calls raise kind ``InvalidState``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional

from . import _cuda, _stsw
from ._alloc import empty_numpy, empty_torch
from ._dtypes import PACKED, error, numpy_dtype, torch_bytes, torch_dtype, writable_bytes
from ._read_ahead import DEFAULT_BUDGET, ReadAhead
from .futures import ReadFuture
from .meta import TensorMeta


@dataclass(frozen=True)
class TensorCheck:
    name: str
    file: str
    status: str  # "ok", "mismatch", "no checksum" or "missing"
    expected: Optional[int]
    actual: int
    nbytes: int


@dataclass(frozen=True)
class VerifyReport:
    tensors: List[TensorCheck]
    ok: int
    mismatched: int
    unchecked: int
    missing: int
    bytes: int
    seconds: float
    notes: List[str] = field(default_factory=list)
    passed: bool = True

    def __bool__(self) -> bool:
        return self.passed


class StreamReader:
    """See the module documentation."""

    def __init__(self, path, *, verify_crc: bool = True, strict: bool = True, mmap: bool = True,
                 allow_partial: bool = False, io_mode: str = "auto",
                 read_ahead: int = DEFAULT_BUDGET):
        self._r = _stsw.Reader(str(path), bool(verify_crc), bool(strict), bool(allow_partial),
                               str(io_mode))
        self._mmap = bool(mmap)
        self._ahead = ReadAhead(self, self._r.keys(), read_ahead)
        self._data_offsets = {s["path"]: s["data_offset"] for s in self._r.shards()}
        self.verify_crc = bool(verify_crc)
        self.strict = bool(strict)

    # ---- header facts ------------------------------------------------------------------
    def keys(self) -> List[str]:
        """Tensor names in file order (sharded: shard by shard)."""
        return self._r.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._r.keys())

    def __len__(self) -> int:
        return len(self._r)

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and name in self._r

    def meta(self, name: str) -> TensorMeta:
        """The tensor's meta; offsets relative to the data region of its own file."""
        return TensorMeta._from_tuple(self._r.meta(name))

    def file_offset(self, name: str) -> int:
        """Where tensor `name`'s bytes start in its file (the data region's offset + its
        offset_begin)."""
        return self._data_offsets[self._r.file_of(name)] + self._r.meta(name)[3]

    def _nbytes(self, name: str) -> int:
        m = self._r.meta(name)  # (name, dtype, shape, offset_begin, offset_end, crc32)
        return m[4] - m[3]

    def _empty_numpy(self, name: str, m: TensorMeta, dtype, shape):
        return empty_numpy(shape, dtype, m.nbytes, self.file_offset(name))

    def _empty_torch(self, name: str, m: TensorMeta):
        return empty_torch(m.shape, torch_dtype(m.dtype, name), m.nbytes, self.file_offset(name))

    def tensors(self) -> List[TensorMeta]:
        return [self.meta(k) for k in self._r.keys()]

    @property
    def metadata(self) -> Dict[str, str]:
        """The "__metadata__" map ({} when absent; sharded: the first shard's)."""
        return self._r.metadata()

    @property
    def index_metadata(self) -> Dict[str, str]:
        """Sharded: the index's "metadata" object; else {}."""
        return self._r.index_metadata()

    @property
    def path(self) -> str:
        return self._r.path

    @property
    def sharded(self) -> bool:
        return self._r.sharded

    def shards(self) -> List[dict]:
        return self._r.shards()

    def file_of(self, name: str) -> str:
        return self._r.file_of(name)

    # ---- data ----------------------------------------------------------------------------
    def get_slice(self, name: str) -> memoryview:
        """The tensor's bytes: a zero-copy read-only view of the mapping (mmap=True), or a
        read-only copy read by the engine (mmap=False)."""
        if self._mmap:
            return memoryview(self._r.get_slice(name))
        buf = bytearray(self.meta(name).nbytes)
        self.read_into(name, buf).result()
        return memoryview(buf).toreadonly()

    def read_into(self, name: str, out) -> ReadFuture:
        """Starts reading tensor `name` into `out`; see stsw.ReadFuture."""
        return ReadFuture(self._r.read_into(name, writable_bytes(out)), out)

    def to_numpy(self, name: str, *, copy: bool = True, raw: bool = False):
        """The tensor as a NumPy array: a new array filled by one engine read (copy=True) or
        a read-only zero-copy view of the mapping (copy=False). Dtypes NumPy lacks (BF16,
        F8, F4, F6) raise kind Unsupported unless raw=True (see stsw._dtypes)."""
        import numpy as np

        m = self.meta(name)
        dt = numpy_dtype(m.dtype, name, raw)
        shape = (m.nbytes,) if m.dtype in PACKED else m.shape
        if not copy:
            if not self._mmap:
                raise error("InvalidArgument", f"tensor '{name}': copy=False needs a reader "
                            "opened with mmap=True")
            view = self._r.get_slice(name)
            return np.frombuffer(view, dtype=dt).reshape(shape)
        if raw:
            out, op = self._start_numpy(name, m, dt, shape)
        else:
            out, op = self._ahead.get(name, "np", lambda: self._start_numpy(name, m, dt, shape))
        op.result()
        return out

    def to_torch(self, name: str, device="cpu"):
        """The tensor as a torch tensor: allocated on the CPU, filled by one engine read
        (CRC checked), then moved to `device` when that is not the CPU. A CUDA device
        takes stsw's device path where it can (stsw/_cuda.py: read straight into device
        memory; Unsupported when torch sees no GPU)."""
        import torch

        if _cuda.is_cuda(device) and _cuda.plan(device) == "stsw":
            return _cuda.read_to_cuda(self, [name], device)[name]
        t, op = self._ahead.get(name, "pt", lambda: self._start_torch(name, self.meta(name)))
        op.result()
        dev = torch.device(device)
        return t if dev.type == "cpu" else t.to(dev)

    # One engine read into a new destination: (destination, pending _stsw.ReadOp).
    def _start_torch(self, name: str, m: TensorMeta):
        t = self._empty_torch(name, m)
        return t, self._r.read_into(name, torch_bytes(t))

    def _start_numpy(self, name: str, m: TensorMeta, dt, shape):
        import numpy as np

        a = self._empty_numpy(name, m, dt, shape)
        return a, self._r.read_into(name, a.reshape(-1).view(np.uint8))

    def _start_read(self, name: str, framework: str):
        """A read-ahead (stsw/_read_ahead.py): what to_torch/to_numpy would start."""
        m = self.meta(name)
        if framework == "pt":
            return self._start_torch(name, m)
        dt = numpy_dtype(m.dtype, name, False)
        return self._start_numpy(name, m, dt, (m.nbytes,) if m.dtype in PACKED else m.shape)

    def verify(self) -> VerifyReport:
        """Reads every data region once and checks every stored crc32."""
        d = self._r.verify()
        checks = [TensorCheck(**t) for t in d.pop("tensors")]
        return VerifyReport(tensors=checks, **d)

    # ---- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        self._ahead.drop()  # waits for reads nobody asked for yet
        self._r.close()

    @property
    def closed(self) -> bool:
        return self._r.closed

    def __enter__(self) -> "StreamReader":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} tensors"
        return f"<stsw.StreamReader {self._path_repr()} ({state})>"

    def _path_repr(self) -> str:
        try:
            return repr(self._r.path)
        except Exception:
            return "?"
