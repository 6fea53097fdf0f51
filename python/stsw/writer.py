"""StreamWriter: forward-only, checksummed, crash-safe writes (the C++ stsw::StreamWriter).

Lifecycle: ``StreamWriter.open(path, metas, ...)`` -> ``write_block`` / ``finalize_tensor``
in the order of `metas` -> ``close()`` (atomic, durable publish of `path`) or ``abort()``
(`path` untouched). As a context manager a normal exit closes and an exception aborts.

Layout. `metas` may come from Python stsw 1.0, which put holes between tensors (each
tensor padded to 64 bytes). The file is always laid out contiguously, in the given order,
as the official loader requires: a meta may start after the previous one's end by at most
max(64, align) bytes (the hole is dropped), never before it (``InvalidOffset``: overlap or
out of order). ``tensors()`` reports the real offsets (and the CRCs after close).

``write_block(name, data)`` takes any C-contiguous buffer-protocol object (bytes,
memoryview, a NumPy array) or a CPU torch tensor and reads it in place: it returns once the
engine copied the bytes into its staging buffers (GIL released meanwhile), so `data` may be
reused right after. Non-contiguous arrays are made contiguous first (one copy).

Thread safety: calls are serialized by the C++ writer; tensors must still be written in
order. Errors are stsw.Error (see the C++ header writer.hpp for which kind when).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from . import _stsw
from ._dtypes import error, is_torch, source_of
from .meta import TensorMeta


@dataclass(frozen=True)
class WriterStats:
    bytes_staged: int
    bytes_written: int
    bytes_total: int
    elapsed_seconds: float
    mb_per_s: float
    eta_seconds: float
    peak_rss_bytes: int


def check_metadata(metadata: Optional[Dict[str, str]]) -> Optional[Dict[str, str]]:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise error("InvalidArgument", f"metadata must be a dict of str to str, not "
                    f"{type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise error("InvalidArgument", f"metadata must map str to str: {k!r}: {v!r}")
    return dict(metadata)


def contiguous_layout(metas: Iterable[TensorMeta], align: int) -> List[TensorMeta]:
    """The metas with contiguous offsets from 0, in the given order (see the module doc)."""
    max_hole = max(64, int(align))
    out: List[TensorMeta] = []
    prev_end = 0
    prev_name = None
    cursor = 0
    for m in metas:
        if not isinstance(m, TensorMeta):
            raise error("InvalidArgument", f"metas must be TensorMeta objects, not "
                        f"{type(m).__name__}")
        where = f"tensor '{m.name}' at data offset {m.offset_begin}"
        if m.offset_begin < prev_end:
            after = f"tensor '{prev_name}'" if prev_name is not None else "the data start"
            raise error("InvalidOffset", f"{where} overlaps or precedes {after}, which ends "
                        f"at {prev_end} (offsets must be in order)")
        if m.offset_begin - prev_end > max_hole:
            raise error("InvalidOffset", f"{where}: a hole of {m.offset_begin - prev_end} "
                        f"bytes after offset {prev_end} (at most max(64, align) = {max_hole})")
        out.append(TensorMeta(m.name, m.dtype, m.shape, cursor, cursor + m.nbytes))
        cursor += m.nbytes
        prev_end = m.offset_end
        prev_name = m.name
    return out


class StreamWriter:
    """See the module documentation. Create with :meth:`StreamWriter.open`."""

    def __init__(self, impl):
        self._w = impl

    @classmethod
    def open(cls, path, metas: Iterable[TensorMeta], *, crc32: bool = True, align: int = 64,
             metadata: Optional[Dict[str, str]] = None, durable: bool = True) -> "StreamWriter":
        layout = contiguous_layout(metas, align)
        impl = _stsw.Writer.open(str(path), [m._tuple() for m in layout], bool(crc32),
                                 int(align), check_metadata(metadata), bool(durable))
        return cls(impl)

    def write_block(self, name: str, data) -> None:
        """Appends `data`'s bytes to tensor `name` (the current one)."""
        if is_torch(data):
            _, _, data = source_of(data, name)
        else:
            try:
                import numpy as np
            except ImportError:  # pragma: no cover - NumPy is a dependency
                np = None
            if np is not None and isinstance(data, np.ndarray) and not data.flags.c_contiguous:
                data = np.ascontiguousarray(data)
        self._w.write_block(name, data)

    def finalize_tensor(self, name: str) -> None:
        self._w.finalize_tensor(name)

    def close(self) -> None:
        """Publishes the file at `path` (atomically; durably when durable=True)."""
        self._w.close()

    def abort(self) -> None:
        """Discards the file; `path` is left untouched. Never raises."""
        self._w.abort()

    def stats(self) -> WriterStats:
        return WriterStats(**self._w.stats())

    def tensors(self) -> List[TensorMeta]:
        """The tensors in file order with their real offsets (crc32 set after close)."""
        return [TensorMeta._from_tuple(t) for t in self._w.tensors()]

    @property
    def path(self) -> str:
        return self._w.path

    @property
    def header_size(self) -> int:
        return self._w.header_size

    def __enter__(self) -> "StreamWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.abort()
            return False
        try:
            self.close()
        except BaseException:
            self.abort()
            raise
        return False
