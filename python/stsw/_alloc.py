"""Destinations for reads from disk: arrays and tensors whose memory is congruent with
the tensor's file offset modulo 4096.

Why: cold reads use O_DIRECT, which moves data straight from the device into the
destination only where the destination address and the file offset agree modulo the
device block size; otherwise every byte goes through the engine's staging buffers and is
copied once more by a worker (C++ reader.hpp, ReadMode::Direct). A safetensors data
region starts at 8 + N, so a tensor's file offset is rarely page-aligned, while a fresh
allocation is. Large destinations are therefore carved out of an allocation 4 KiB larger
than the tensor, at the offset that makes them congruent (the returned array/tensor is an
ordinary view of it; the extra 4 KiB is the price). Small ones are allocated as usual.
"""

from __future__ import annotations

CONGRUENT_MIN = 1 << 20  # below this the staging copy costs less than the 4 KiB slack
BLOCK = 4096  # a multiple of every logical block size O_DIRECT requires


def _shift(address: int, file_offset: int) -> int:
    return (file_offset - address) % BLOCK


def empty_numpy(shape, dtype, nbytes: int, file_offset: int):
    import numpy as np

    if nbytes < CONGRUENT_MIN or file_offset % dtype.itemsize:
        return np.empty(shape, dtype=dtype)
    raw = np.empty(nbytes + BLOCK, dtype=np.uint8)
    at = _shift(raw.ctypes.data, file_offset)
    return raw[at:at + nbytes].view(dtype).reshape(shape)


def empty_torch(shape, dtype, nbytes: int, file_offset: int):
    import torch

    size = torch.empty((), dtype=dtype).element_size()
    if nbytes < CONGRUENT_MIN or file_offset % size:
        return torch.empty(shape, dtype=dtype)
    raw = torch.empty(nbytes + BLOCK, dtype=torch.uint8)
    at = _shift(raw.data_ptr(), file_offset)
    return raw[at:at + nbytes].view(dtype).view(shape)
