"""Multi-rank checkpoints over torch.distributed: every rank writes its part of one
consolidated checkpoint; verified loads at any world size. Design: docs/distributed.md.

    import stsw.distributed as sd
    # every rank of the job, after torch.distributed.init_process_group(...):
    sd.save({"emb": sd.Shard(local_rows, global_shape, (row0, 0)), "norm": norm}, "ckpt/")
    sd.load({"emb": sd.Shard(my_rows, global_shape, (my_row0, 0)), "norm": norm}, "ckpt/")

``save(state_dict, path)``: each rank passes the tensors it holds: whole tensors (a tensor
held whole by several ranks is replicated: written once, by the lowest rank, and every
replica's CRC-32 compared: a diverged replica fails the save with CrcMismatch naming the
tensor and the ranks) and :class:`Shard` s, blocks of a tensor (row blocks, column blocks,
any block of consecutive indices per dimension); the ranks' blocks must tile every tensor
exactly. A row block is one byte range of the file; another block is one range per run
of contiguous elements (a column block of a [R, C] tensor: R ranges), each written and
checksummed on its own (the per-tensor CRC is combined from all of them). The result at ``path`` (a
directory; or a file name ending in ".safetensors") is the Hugging Face layout:
``model.safetensors``, or ``model-0000i-of-0000N.safetensors`` plus
``model.safetensors.index.json`` when the tensors hold more than ``max_shard_size`` bytes;
whole tensors, strictly valid, with crc32 fields: ``stsw verify``, the official loader and
transformers-style loaders open it with no stsw code.

Contiguous CPU tensors are written from their own memory; the others (transposed, strided,
big-endian, conjugate/negative, on a GPU) are copied one at a time, when their turn to be
written comes, and freed once staged, so a rank's extra memory is about one such tensor
plus the staging buffers, not a second copy of its part.

Two-phase commit: every rank writes and fdatasyncs its byte ranges of the final shards into
hidden temporary files created by rank 0; rank 0 gathers every rank's outcome and piece
CRCs, and only when all succeeded writes the headers with the combined CRCs and publishes
the shards and the index atomically. A failure on any rank (or a rank that dies: the
collective fails) publishes nothing, leaves the previous checkpoint at ``path`` as it was,
and raises on every rank that is still alive.

``load(state_dict, path)`` fills the tensors of ``state_dict`` in place (whole tensors, or
Shards of any block layout), reading only the bytes each needs through a read-only
mapping. Verification: a whole tensor read is checked against its crc32; blocks (row
blocks: one byte range; other blocks: one range per run) are checked by combining the
CRCs of the ranges all ranks read (crc32_combine) when together they tile the tensor;
otherwise (a tensor only partly loaded) those bytes are not checked. A mismatch
raises CrcMismatch naming the tensor on every rank.

Without an initialised process group (or with ``process_group=None`` outside
torch.distributed) both run in one process: ``save`` writes the state dict, ``load``
fills it.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import Future
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from . import _stsw
from ._dtypes import BITS, PACKED, dtype_of_torch, error, is_torch, source_of, torch_bytes
from ._errors import Error
from .reader import StreamReader
from .writer import check_metadata

DEFAULT_MAX_SHARD_SIZE = 5_000_000_000  # the ecosystem's default
ENGINE_RUN = 256 << 10  # load: runs this long are read by the engine, shorter ones mapped


class Shard:
    """A block of a larger tensor held by this rank: ``local_tensor`` holds the elements
    ``[offsets[d], offsets[d] + local_tensor.shape[d])`` of each dimension ``d`` of a
    tensor of ``global_shape``. ``save`` and ``load`` accept blocks of any layout: row
    blocks (split along dimension 0) are one byte range of the tensor, other blocks (a
    column split of a 2-D tensor, ...) one byte range per run of contiguous elements (for
    a column block: one per row), which the ranks write and checksum piece by piece."""

    __slots__ = ("local_tensor", "global_shape", "offsets")

    def __init__(self, local_tensor, global_shape: Sequence[int], offsets: Sequence[int]):
        self.local_tensor = local_tensor
        self.global_shape = tuple(int(d) for d in global_shape)
        self.offsets = tuple(int(o) for o in offsets)
        local = tuple(int(d) for d in local_tensor.shape)
        if len(self.offsets) != len(self.global_shape) or len(local) != len(self.global_shape):
            raise error("InvalidArgument", f"Shard: offsets {self.offsets}, local shape {local} "
                        f"and global shape {self.global_shape} differ in rank")
        for d, (o, n, g) in enumerate(zip(self.offsets, local, self.global_shape)):
            if o < 0 or o + n > g:
                raise error("InvalidArgument", f"Shard: dimension {d}: elements [{o}, {o + n}) "
                            f"lie outside the global size {g}")

    @property
    def is_row_block(self) -> bool:
        local = tuple(self.local_tensor.shape)
        return all(o == 0 for o in self.offsets[1:]) and local[1:] == self.global_shape[1:]

    def __repr__(self) -> str:
        return (f"Shard(local {tuple(self.local_tensor.shape)}, global {self.global_shape}, "
                f"offsets {self.offsets})")


# ---- collectives ------------------------------------------------------------------------
class _Comm:
    """The few collectives the protocol needs, or their one-process forms."""

    def __init__(self, process_group):
        self.dist = None
        self.group = process_group
        self.rank, self.world = 0, 1
        try:
            import torch.distributed as dist
        except ImportError:  # pragma: no cover - torch without distributed
            dist = None
        if dist is not None and dist.is_available() and dist.is_initialized():
            self.dist = dist
            self.rank = dist.get_rank(process_group)
            self.world = dist.get_world_size(process_group)
        elif process_group is not None:
            raise error("InvalidArgument", "a process_group was given but torch.distributed "
                        "is not initialised")

    def _root(self) -> int:
        if self.group is None:
            return 0
        get = getattr(self.dist, "get_global_rank", None) or \
            self.dist.distributed_c10d._get_global_rank
        return get(self.group, 0)

    def all_gather(self, obj) -> list:
        if self.dist is None:
            return [obj]
        out = [None] * self.world
        self.dist.all_gather_object(out, obj, group=self.group)
        return out

    def broadcast(self, obj):
        """rank 0's `obj` on every rank."""
        if self.dist is None:
            return obj
        box = [obj]
        self.dist.broadcast_object_list(box, src=self._root(), group=self.group)
        return box[0]


def _raise_shared(outcome):
    """Raises the stsw error carried by a broadcast outcome ("error", Error)."""
    if outcome[0] == "error":
        raise outcome[1]
    return outcome[1]


def _as_error(e: BaseException) -> Error:
    if isinstance(e, Error):
        return e
    return error("Io", f"{type(e).__name__}: {e}")


def _checkpoint_path(path, for_load: bool) -> str:
    p = os.fspath(path)
    if p.endswith(".safetensors") or p.endswith(".json"):
        return p
    if for_load:
        index = os.path.join(p, "model.safetensors.index.json")
        single = os.path.join(p, "model.safetensors")
        return single if os.path.exists(single) or not os.path.exists(index) else index
    os.makedirs(p, exist_ok=True)
    return os.path.join(p, "model.safetensors")


def _block_runs(shard: Shard, item: int, name: str):
    """The contiguous byte runs of `shard`'s block in the tensor's row-major bytes:
    (global begins, local begins, run length), begins as NumPy int64 arrays. The run spans
    the innermost dimension the block does not cover whole, and every dimension inside it;
    a row block is one run."""
    import numpy as np

    g, o = shard.global_shape, shard.offsets
    n = tuple(int(d) for d in shard.local_tensor.shape)
    if any(d == 0 for d in n):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    k = len(g) - 1
    while k > 0 and n[k] == g[k]:
        k -= 1
    inner = int(np.prod(g[k + 1:], dtype=np.int64)) if k + 1 < len(g) else 1
    run = n[k] * inner * item if g else item
    gstride = [int(np.prod(g[d + 1:], dtype=np.int64)) * item for d in range(len(g))]
    starts = np.zeros(1, np.int64) + (o[k] * gstride[k] if g else 0)
    for d in range(k - 1, -1, -1):  # the outer dimensions, innermost first
        idx = (o[d] + np.arange(n[d], dtype=np.int64)) * gstride[d]
        starts = (idx[:, None] + starts[None, :]).reshape(-1)
    if run == 0 and starts.size:
        raise error("InvalidArgument", f"tensor '{name}': an empty run in {shard!r}")
    return starts, np.arange(starts.size, dtype=np.int64) * run, run


def _flat_bytes(data):
    """A flat uint8 view of a contiguous buffer from source_of (NumPy array or view)."""
    import numpy as np

    return np.asarray(data).reshape(-1).view(np.uint8)


# ---- save -------------------------------------------------------------------------------
def _declare(state_dict: Mapping[str, object]):
    """(declarations, buffers) of this rank: (name, dtype, global shape, begin, end) and,
    for each, its bytes: a buffer read in place, or (make, offset) for a tensor that needs
    a copy first (source_of(defer=True)): _stsw.dist_write_rank calls `make` when the piece
    is written and frees the copy once staged, one at a time, so a rank holds about one
    such tensor beside its own, not a second copy of its part. The runs of a block share
    one `make` (one copy)."""
    if not isinstance(state_dict, Mapping):
        raise error("InvalidArgument", f"save: expected a dict of tensors, not "
                    f"{type(state_dict).__name__}")
    decls, bufs = [], []
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise error("InvalidName", f"save: tensor names must be str, not {name!r}")
        local = value.local_tensor if isinstance(value, Shard) else value
        dtype, shape, data = source_of(local, name, defer=True)
        nbytes = math.prod(shape) * BITS[dtype] // 8
        deferred = callable(data)
        if isinstance(value, Shard) and not value.is_row_block:
            if dtype in PACKED:
                raise error("Unsupported", f"save: tensor '{name}': {value!r} splits a "
                            f"sub-byte {dtype} tensor along a dimension other than 0")
            flat = None if deferred else _flat_bytes(data)
            starts, local_at, run = _block_runs(value, BITS[dtype] // 8, name)
            for gb, lb in zip(starts.tolist(), local_at.tolist()):
                decls.append((name, dtype, list(value.global_shape), gb, gb + run))
                bufs.append((data, lb) if deferred else flat[lb:lb + run])
            continue
        if isinstance(value, Shard):
            row = nbytes // shape[0] if shape and shape[0] else 0
            begin = value.offsets[0] * row if value.global_shape else 0
            decls.append((name, dtype, list(value.global_shape), begin, begin + nbytes))
        else:
            decls.append((name, dtype, list(shape), 0, nbytes))
        bufs.append((data, 0) if deferred else data)
    return decls, bufs


def save(state_dict: Mapping[str, object], path, *, process_group=None,
         max_shard_size: Optional[int] = DEFAULT_MAX_SHARD_SIZE, align: int = 64,
         metadata: Optional[Dict[str, str]] = None, durable: bool = True) -> List[str]:
    """Writes every rank's tensors into one checkpoint at `path` (see the module doc).
    Collective: every rank of the group must call it. Returns the files written (the
    shards, then the index when sharded) on every rank."""
    comm = _Comm(process_group)
    local_error = None
    try:
        decls, bufs = _declare(state_dict)
    except Exception as e:  # every rank must still reach the collectives
        decls, bufs, local_error = [], [], _as_error(e)
    gathered = comm.all_gather((comm.rank, decls, local_error))
    for _, _, e in gathered:
        if e is not None:
            raise e
    if max_shard_size is not None and int(max_shard_size) <= 0:
        raise error("InvalidArgument", f"save: max_shard_size must be positive, not "
                    f"{max_shard_size}")
    # Every rank plans from the same declarations: the same plan, or the same error.
    plan = _stsw.dist_plan([(r, d) for r, d, _ in gathered],
                           None if max_shard_size is None else int(max_shard_size),
                           int(align), check_metadata(metadata))
    coord = None
    try:
        outcome = None
        if comm.rank == 0:
            try:
                coord = _stsw.DistCoordinator(_checkpoint_path(path, False), plan, bool(durable))
                outcome = ("ok", coord.temp_files())
            except Exception as e:
                outcome = ("error", _as_error(e))
        temp_files = _raise_shared(comm.broadcast(outcome))
        report = _stsw.dist_write_rank(plan, comm.rank, temp_files, bufs, bool(durable))
        reports = comm.all_gather(report)
        outcome = None
        if comm.rank == 0:
            try:
                files, index = coord.commit(reports)
                outcome = ("ok", list(files) + ([index] if index else []))
            except Exception as e:
                outcome = ("error", _as_error(e))
        return _raise_shared(comm.broadcast(outcome))
    finally:
        if coord is not None:
            coord.abandon()  # removes the temporary files unless committed


# ---- load -------------------------------------------------------------------------------
def _dest_bytes(t, name: str):
    if not is_torch(t):
        import numpy as np

        if not isinstance(t, np.ndarray) or not t.flags.c_contiguous or not t.flags.writeable:
            raise error("InvalidArgument", f"load: tensor '{name}': the destination must be a "
                        "writable contiguous torch tensor or NumPy array")
        return t.reshape(-1).view(np.uint8)
    if t.device.type != "cpu" or not t.is_contiguous():
        raise error("InvalidArgument", f"load: tensor '{name}': the destination must be a "
                    "contiguous CPU tensor")
    return torch_bytes(t)


def _dtype_of(t, name: str) -> str:
    if is_torch(t):
        return dtype_of_torch(t, name)
    from ._dtypes import dtype_of_numpy

    return dtype_of_numpy(t, name)


def load(state_dict: Mapping[str, object], path, *, process_group=None,
         verify: bool = True) -> Mapping[str, object]:
    """Fills the tensors (and Shards) of `state_dict` from the checkpoint at `path`, in
    place (see the module doc). Collective when a process group is in use. Returns
    `state_dict`."""
    import numpy as np

    comm = _Comm(process_group)
    ranges: List[Tuple[str, int, int, int]] = []  # (tensor, begin, end, crc) read as bytes
    local_error = None
    sizes: Dict[str, Tuple[int, Optional[int], str]] = {}
    requests, spans, mapped = [], [], {}  # engine reads: (tensor, offset, dest), ranges
    try:
        with StreamReader(_checkpoint_path(path, True), verify_crc=False) as r:
            for name, target in state_dict.items():
                m = r.meta(name)
                local = target.local_tensor if isinstance(target, Shard) else target
                dtype = _dtype_of(local, name)
                gshape = target.global_shape if isinstance(target, Shard) else \
                    tuple(int(d) for d in local.shape)
                if dtype != m.dtype or tuple(gshape) != tuple(m.shape):
                    raise error("InvalidArgument", f"load: tensor '{name}' in {r.file_of(name)} "
                                f"is {m.dtype} {list(m.shape)}; the destination expects "
                                f"{dtype} {list(gshape)}")
                sizes[name] = (m.nbytes, m.crc32, r.file_of(name))
                dest = _dest_bytes(local, name)
                if not isinstance(target, Shard) or target.is_row_block:
                    rows = m.shape[0] if m.shape else 1
                    row = m.nbytes // rows if rows else 0
                    begin = target.offsets[0] * row if isinstance(target, Shard) and m.shape else 0
                    runs = [(begin, 0, dest.nbytes)]
                else:
                    item = m.nbytes // max(1, int(np.prod(m.shape)))
                    starts, local_at, run = _block_runs(target, item, name)
                    runs = [(gb, lb, run) for gb, lb in zip(starts.tolist(), local_at.tolist())]
                for gb, lb, n in runs:
                    if n >= ENGINE_RUN:  # through the engine (O_DIRECT), all at once below
                        requests.append((name, gb, dest[lb:lb + n]))
                        spans.append((name, gb, gb + n))
                        continue
                    # Short runs (the rows of a narrow column block): copied from the mapping,
                    # touching only the pages that hold them.
                    if name not in mapped:
                        mapped[name] = np.frombuffer(r.get_slice(name), np.uint8)
                    part = mapped[name][gb:gb + n]
                    dest[lb:lb + n] = part
                    if verify:
                        ranges.append((name, gb, gb + n, _stsw.crc32(part)))
            mapped.clear()
        if requests:
            crcs = _stsw.dist_read_ranges(_checkpoint_path(path, True), requests, bool(verify))
            if verify:
                ranges += [(n, b, e, c) for (n, b, e), c in zip(spans, crcs)]
    except Exception as e:
        local_error = _as_error(e)
    # Everyone learns every failure and checks every tiled tensor.
    gathered = comm.all_gather((comm.rank, local_error, ranges, sizes))
    for _, e, _, _ in gathered:
        if e is not None:
            raise e
    if verify:
        pieces: Dict[str, list] = {}
        info: Dict[str, Tuple[int, Optional[int], str]] = {}
        for rank, _, rs, sz in gathered:
            info.update(sz)
            for name, b, e, crc in rs:
                pieces.setdefault(name, []).append((rank, b, e, crc))
        for name in sorted(pieces):
            nbytes, stored, file = info[name]
            if stored is None:
                continue
            whole = [p for p in pieces[name] if p[1] == 0 and p[2] == nbytes]
            parts = [p for p in pieces[name] if not (p[1] == 0 and p[2] == nbytes)]
            crcs = [p[3] for p in whole]
            if parts:  # None: the ranks' blocks do not tile the tensor (nothing to check)
                crcs.append(_stsw.dist_combine(name, nbytes, parts))
            for crc in crcs:
                if crc is not None and crc != stored:
                    raise error("CrcMismatch", f"{file}: tensor '{name}' (expected "
                                f"0x{stored:08x}, got 0x{crc:08x})")
    return state_dict


# ---- asynchronous save ------------------------------------------------------------------
_inflight_lock = threading.Lock()
_inflight: Optional[Future] = None


def _snapshot(value):
    """A private host copy of a tensor / array / Shard (the caller may change the original
    as soon as save_async returns)."""
    if isinstance(value, Shard):
        return Shard(_snapshot(value.local_tensor), value.global_shape, value.offsets)
    if is_torch(value):
        return value.detach().to("cpu", copy=True).contiguous()
    import numpy as np

    return np.array(value, copy=True, order="C")


def save_async(state_dict: Mapping[str, object], path, *, process_group=None,
               **kwargs) -> Future:
    """`save` in the background: snapshots every tensor to host memory (one copy of the
    rank's bytes: that much extra RAM and one memcpy pass, paid before returning), then
    writes on a background thread and returns a concurrent.futures.Future whose result is
    what `save` returns (or whose exception is its error). A second save_async while one is
    in flight first waits for it (so at most one snapshot is held besides the one being
    taken). With a process group every rank must call it in the same order; the background
    thread issues collectives, so pass a group used by nothing else meanwhile
    (``torch.distributed.new_group(...)``), or the training thread's collectives may
    interleave with the save's."""
    global _inflight
    with _inflight_lock:
        previous = _inflight
    if previous is not None:
        try:
            previous.result()
        except Exception:  # reported by that future's owner
            pass
    snap = {name: _snapshot(v) for name, v in state_dict.items()}
    fut: Future = Future()

    def run():
        try:
            fut.set_result(save(snap, path, process_group=process_group, **kwargs))
        except BaseException as e:  # noqa: BLE001 - delivered through the future
            fut.set_exception(e)

    with _inflight_lock:
        _inflight = fut
    threading.Thread(target=run, name="stsw-save-async", daemon=False).start()
    return fut


__all__ = ["Shard", "save", "save_async", "load", "DEFAULT_MAX_SHARD_SIZE"]
