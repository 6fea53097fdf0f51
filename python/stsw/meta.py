"""TensorMeta: the description of one tensor, as in Python stsw 1.0."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from ._dtypes import BITS, error


class TensorMeta:
    """One tensor: ``name``, ``dtype`` (the safetensors string, "F32", "BF16", ...),
    ``shape``, and its byte range ``[offset_begin, offset_end)`` relative to the start of
    the data region, with an optional stored ``crc32``.

    Construction checks the dtype (``TensorInvalidInfo``) and that the range is not
    reversed (``InvalidOffset``); whether ``nbytes`` matches shape x dtype is checked where
    the meta is used (StreamWriter.open)."""

    __slots__ = ("name", "dtype", "shape", "offset_begin", "offset_end", "crc32")

    def __init__(self, name: str, dtype: str, shape: Sequence[int], offset_begin: int,
                 offset_end: int, crc32: Optional[int] = None):
        if not isinstance(name, str):
            raise error("InvalidName", f"tensor name must be a str, not {type(name).__name__}")
        if dtype not in BITS:
            raise error("TensorInvalidInfo", f"tensor '{name}': unknown dtype {dtype!r}")
        shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise error("TensorInvalidInfo", f"tensor '{name}': negative dimension in {shape}")
        offset_begin, offset_end = int(offset_begin), int(offset_end)
        if offset_begin < 0 or offset_end < offset_begin:
            raise error("InvalidOffset", f"tensor '{name}': data offsets [{offset_begin}, "
                        f"{offset_end}) are reversed or negative")
        self.name = name
        self.dtype = dtype
        self.shape: Tuple[int, ...] = shape
        self.offset_begin = offset_begin
        self.offset_end = offset_end
        self.crc32 = None if crc32 is None else int(crc32)

    @property
    def nbytes(self) -> int:
        """Bytes the tensor occupies: offset_end - offset_begin."""
        return self.offset_end - self.offset_begin

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def _tuple(self):
        return (self.name, self.dtype, list(self.shape), self.offset_begin, self.offset_end,
                self.crc32)

    @classmethod
    def _from_tuple(cls, t) -> "TensorMeta":
        return cls(t[0], t[1], t[2], t[3], t[4], t[5])

    def to_dict(self) -> dict:
        d = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
             "data_offsets": [self.offset_begin, self.offset_end]}
        if self.crc32 is not None:
            d["crc32"] = self.crc32
        return d

    def __eq__(self, other) -> bool:
        if not isinstance(other, TensorMeta):
            return NotImplemented
        return self._tuple() == other._tuple()

    def __hash__(self) -> int:
        return hash((self.name, self.dtype, self.shape, self.offset_begin, self.offset_end,
                     self.crc32))

    def __repr__(self) -> str:
        crc = "" if self.crc32 is None else f", crc32={self.crc32:#010x}"
        return (f"TensorMeta({self.name!r}, {self.dtype!r}, {self.shape}, "
                f"{self.offset_begin}, {self.offset_end}{crc})")
