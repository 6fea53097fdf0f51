"""dump and load: whole state dicts in one call.

``dump(state_dict, path, *, crc32=True, align=64, metadata=None, max_shard_size=None)``
writes a dict of NumPy arrays and/or torch tensors through the C++ stsw::dump: tensors in
the official writer's order, each file atomic and durable, one file or, with
`max_shard_size` (bytes), ``<stem>-0000K-of-0000N.safetensors`` shards plus
``<stem>.safetensors.index.json``. Contiguous CPU data is read in place (no copy);
non-contiguous, big-endian or non-CPU tensors are made contiguous little-endian CPU one at
a time, each just before it is written and freed once its bytes were staged, so the extra
memory is about one such tensor, not a copy of the model. Tensors sharing storage
(views, tied weights) are each stored under their own name with their own bytes, as the
official writer does. ``crc32=False, align=8`` writes exactly what the official serializer
writes. `metadata` None writes no "__metadata__" for a single file (as the official
save_file) and {"format": "pt"} in each shard of a sharded set (as the ecosystem expects).
Returns the list of files written (the index last when sharded).

``load(path, *, framework="pt", device="cpu")`` returns a dict name -> tensor/array in file
order, allocating each and filling it with one engine read (CRC verified); all reads are
in flight at once. A CUDA `device` reads straight into device memory where stsw was built
with CUDA and torch sees a GPU, else reads to host memory and moves the tensors; it fails
with Unsupported when torch sees no GPU (see stsw/_cuda.py).
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional

from . import _cuda, _stsw
from ._dtypes import error, numpy_dtype, source_of, torch_bytes
from .reader import StreamReader
from .safe_open import check_framework
from .writer import check_metadata


def dump(state_dict: Mapping[str, object], path, *, crc32: bool = True, align: int = 64,
         metadata: Optional[Dict[str, str]] = None, max_shard_size: Optional[int] = None,
         durable: bool = True, order: str = "canonical") -> List[str]:
    if not isinstance(state_dict, Mapping):
        raise error("InvalidArgument", f"dump: expected a dict of tensors, not "
                    f"{type(state_dict).__name__}")
    rows = []
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise error("InvalidName", f"dump: tensor names must be str, not {name!r}")
        # A tensor that needs a copy (strided, big-endian, on a device) gets a function
        # making it: _stsw.dump calls it when the tensor is written and drops the copy
        # once its bytes are staged, so one copy is alive at a time, not the whole model.
        dtype, shape, data = source_of(value, name, defer=True)
        rows.append((name, dtype, list(shape), data))
    if max_shard_size is not None:
        max_shard_size = int(max_shard_size)
        if max_shard_size <= 0:
            raise error("InvalidArgument", f"dump: max_shard_size must be positive, not "
                        f"{max_shard_size}")
    files, index = _stsw.dump(rows, os.fspath(path), bool(crc32), int(align),
                              check_metadata(metadata), max_shard_size, str(order),
                              bool(durable))
    return list(files) + ([index] if index else [])


def load(path, *, framework: str = "pt", device="cpu", verify_crc: bool = True,
         strict: bool = True) -> Dict[str, object]:
    framework = check_framework(framework)
    if framework == "pt" and _cuda.is_cuda(device) and _cuda.plan(device) == "stsw":
        with StreamReader(path, verify_crc=verify_crc, strict=strict) as r:  # _cuda.py
            return _cuda.read_to_cuda(r, r.keys(), device)
    out: Dict[str, object] = {}
    with StreamReader(path, verify_crc=verify_crc, strict=strict) as r:
        jobs = []  # (name, writable byte view of the destination)
        if framework == "pt":
            for name in r.keys():
                t = r._empty_torch(name, r.meta(name))
                out[name] = t
                jobs.append((name, torch_bytes(t)))
        else:
            import numpy as np

            for name in r.keys():
                m = r.meta(name)
                a = r._empty_numpy(name, m, numpy_dtype(m.dtype, name), m.shape)
                out[name] = a
                jobs.append((name, a.reshape(-1).view(np.uint8)))
        # Every read in flight at once; the kernel faults the fresh destinations in as the
        # reads land (measured: cheaper than touching them first, even on another thread).
        ops = [r._r.read_into(name, view) for name, view in jobs]
        first_error = None
        for op in ops:  # wait for every read, even after a failure
            try:
                op.result()
            except BaseException as e:  # noqa: BLE001 - re-raised below
                first_error = first_error or e
        if first_error is not None:
            raise first_error
    if framework == "pt" and str(device) != "cpu":
        out = {k: v.to(device) for k, v in out.items()}
    elif framework == "np" and str(device) != "cpu":
        raise error("InvalidArgument", f"framework 'np' loads to the CPU, not {device!r}")
    return out
