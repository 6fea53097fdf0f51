"""Tensors read straight into CUDA memory (issue 15): the device path of
``StreamReader.to_torch(name, device="cuda:N")`` and ``load(..., device="cuda")``.

Which path a CUDA device gets (``plan(device)``):

* ``"stsw"``: stsw was built with its CUDA component (``_stsw.cuda_built``) and torch sees
  a GPU. The tensors are allocated on the device with torch and filled by stsw's pipeline:
  the file is read through pinned staging buffers and each chunk copied with
  cudaMemcpyAsync on torch's current stream of that device while the next one is read;
  CRCs are checked on the host bytes. The call returns once the bytes are on the device.
* ``"host"`` (documented fallback): torch sees a GPU but stsw was built without CUDA. The
  tensors are read into host memory as for the CPU, then moved with ``tensor.to(device)``
  (disk time plus copy time instead of the larger of the two).
* Error ``Unsupported``: torch sees no CUDA device (a CPU-only torch, no driver, no GPU);
  the message names the device and the reason. Nothing is read.
"""

from __future__ import annotations

from typing import Dict, Iterable

from . import _stsw
from ._dtypes import error, torch_dtype


def is_cuda(device) -> bool:
    """Whether `device` ("cuda", "cuda:1", torch.device) names a CUDA device."""
    return device is not None and str(device).split(":", 1)[0] == "cuda"


def plan(device) -> str:
    """"stsw" or "host" for a CUDA `device` (see the module doc); raises Unsupported when
    torch sees no CUDA device."""
    import torch

    if not torch.cuda.is_available():
        why = ("this torch is built without CUDA" if torch.version.cuda is None
               else "torch.cuda.is_available() is False: no driver or no GPU")
        raise error("Unsupported", f"device {str(device)!r}: torch sees no CUDA device ({why})")
    return "stsw" if getattr(_stsw, "cuda_built", False) else "host"


def _device(device):
    import torch

    dev = torch.device(device)
    if dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def read_to_cuda(reader, names: Iterable[str], device) -> Dict[str, object]:
    """Tensors `names` of `reader` (a stsw.StreamReader) as torch tensors on CUDA
    `device`, through stsw's device pipeline (plan(device) must be "stsw")."""
    import torch

    dev = _device(device)
    out: Dict[str, object] = {}
    requests = []
    for name in names:
        m = reader.meta(name)
        dt = torch_dtype(m.dtype, name)
        raw = torch.empty(max(m.nbytes, 1), dtype=torch.uint8, device=dev)
        out[name] = raw[:m.nbytes].view(dt).view(m.shape) if m.nbytes else \
            torch.empty(m.shape, dtype=dt, device=dev)
        requests.append((name, 0, m.nbytes, raw.data_ptr()))
    stream = torch.cuda.current_stream(dev).cuda_stream
    _stsw.cuda_read(reader._r, requests, stream, dev.index, reader.verify_crc)
    return out
