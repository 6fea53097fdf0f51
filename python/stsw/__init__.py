"""stsw: fast, checksummed, crash-safe safetensors I/O for Python.

The Python stsw 1.0 API (StreamWriter, StreamReader, TensorMeta, dump, load) and the
official safetensors reader API (safe_open), running on the C++ stsw engine (io_uring, or
a pread/pwrite thread pool where io_uring is unavailable; STSW_IO_BACKEND=threads forces
it). Every blocking call releases the GIL. Errors: stsw.Error, with .kind the C++ error
kind ("CrcMismatch", "InvalidOffset", ...).

    import numpy as np, stsw
    stsw.dump({"w": np.ones((2, 2), np.float32)}, "model.safetensors")
    tensors = stsw.load("model.safetensors", framework="np")
"""

from . import _stsw
from ._errors import Error, IoError, UnknownTensorError, ValidationError
from .dump import dump, load
from .futures import ReadFuture
from .meta import TensorMeta
from .reader import StreamReader, TensorCheck, VerifyReport
from .safe_open import SafeSlice, safe_open
from .writer import StreamWriter, WriterStats

__version__ = _stsw.version  # the C++ library's version
ERROR_KINDS = tuple(_stsw.ERROR_KINDS)


def backend() -> str:
    """The I/O backend of the shared engine: "io_uring" or "threads"."""
    return _stsw.backend()


__all__ = [
    "Error", "IoError", "ValidationError", "UnknownTensorError", "ERROR_KINDS",
    "TensorMeta", "StreamWriter", "WriterStats", "StreamReader", "ReadFuture",
    "VerifyReport", "TensorCheck", "safe_open", "SafeSlice", "dump", "load", "backend",
]
