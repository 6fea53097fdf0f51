"""One rank of the multi-rank checkpoint tests (test_distributed.py starts WORLD of them).

    python3 dist_worker.py <scenario> <rank> <world> <port> <dir>

Joins a gloo process group on 127.0.0.1, runs the scenario and exits 0 when every check
passed (a failed check raises: exit 1). Scenarios:
  matrix  save at 4, 2 and 1 ranks (sub-groups), load each at another world size, compare;
          a diverged replica and a failing rank leave the previous checkpoint intact;
          a corrupted shard fails loads with CrcMismatch.
  columns every rank saves column blocks of "qkv" [24, 8] and dimension-1 blocks of "cube"
          [2, 4, 8]; a smaller sub-group loads them as column and as row blocks, every
          rank loads them whole; a corrupted column shard fails with CrcMismatch.
  killed  rank 1 dies in the middle of writing its part; rank 0 must get an error and the
          previous checkpoint must stay in place (checked by the test afterwards).
  lazy    (2 ranks) every rank saves column blocks of 8 transposed tensors (256 MiB a
          rank, each run a row): its peak RSS must grow by about one block, not its whole
          part (copies made when written); loads them back; then a copy failing on rank 1
          fails the save on both ranks and leaves the previous checkpoint in place.
"""

from __future__ import annotations

import datetime
import os
import sys

import torch
import torch.distributed as dist

import stsw
import stsw.distributed as sd
from stsw import _stsw

ROWS = 24  # divisible by 1, 2, 3, 4
COLS = 8


def full():
    g = torch.Generator().manual_seed(7)
    return {
        "emb": torch.randn(ROWS, COLS, generator=g),
        "norm": torch.randn(COLS, generator=g),
        "head": torch.randn(4, COLS, generator=g).to(torch.bfloat16),
        "step": torch.tensor(42, dtype=torch.int64),
    }


def rows_of(part: int, parts: int):
    n = ROWS // parts
    return part * n, n


def save_dict(part: int, parts: int, bad_replica: bool = False):
    f = full()
    r0, n = rows_of(part, parts)
    d = {"emb": sd.Shard(f["emb"][r0:r0 + n].clone(), (ROWS, COLS), (r0, 0)),
         "norm": f["norm"].clone() + (1e-3 if bad_replica else 0.0),
         "step": f["step"]}
    if part == parts - 1:
        d["head"] = f["head"]
    return d


def load_dict(part: int, parts: int, columns: bool = False):
    if columns:  # blocks along dimension 1: a strided read
        c = COLS // parts
        emb = sd.Shard(torch.zeros(ROWS, c), (ROWS, COLS), (0, part * c))
    else:
        r0, n = rows_of(part, parts)
        emb = sd.Shard(torch.zeros(n, COLS), (ROWS, COLS), (r0, 0))
    return {"emb": emb, "norm": torch.zeros(COLS), "head": torch.zeros(4, COLS, dtype=torch.bfloat16),
            "step": torch.tensor(0, dtype=torch.int64)}


def check(d, part: int, parts: int, columns: bool = False):
    f = full()
    if columns:
        c = COLS // parts
        want = f["emb"][:, part * c:(part + 1) * c]
    else:
        r0, n = rows_of(part, parts)
        want = f["emb"][r0:r0 + n]
    assert torch.equal(d["emb"].local_tensor, want), "emb differs"
    for k in ("norm", "head", "step"):
        assert torch.equal(d[k], f[k]), f"{k} differs"


def expect_error(kind: str, fn, *words):
    try:
        fn()
    except stsw.Error as e:
        assert e.kind == kind, f"expected {kind}, got {e}"
        for w in words:
            assert w in str(e), f"{w!r} not in {e}"
        return
    raise AssertionError(f"no {kind} error")


def snapshot(path):
    return {n: open(os.path.join(path, n), "rb").read() for n in sorted(os.listdir(path))}


def matrix(rank: int, world: int, root: str):
    g2 = dist.new_group([0, 1])
    g1 = dist.new_group([0])
    a, b, c = (os.path.join(root, x) for x in ("a", "b", "c"))
    # 4 ranks save, sharded (emb alone, then the rest); load at 4, then at 2 and at 3 of them.
    sd.save(save_dict(rank, world), a, max_shard_size=800)
    d = load_dict(rank, world)
    sd.load(d, a)
    check(d, rank, world)
    if rank < 2:
        d = load_dict(rank, 2, columns=True)
        sd.load(d, a, process_group=g2)
        check(d, rank, 2, columns=True)
    g3 = dist.new_group([0, 1, 2])
    if rank < 3:
        d = load_dict(rank, 3)
        sd.load(d, a, process_group=g3)
        check(d, rank, 3)
    # 2 ranks save one file; 4 load it.
    if rank < 2:
        sd.save(save_dict(rank, 2), b, process_group=g2)
    dist.barrier()
    d = load_dict(rank, world)
    sd.load(d, b)
    check(d, rank, world)
    # 1 rank saves; 4 load it.
    if rank == 0:
        sd.save(save_dict(0, 1), c, process_group=g1, max_shard_size=800)
    dist.barrier()
    d = load_dict(rank, world)
    sd.load(d, c)
    check(d, rank, world)

    # save_async on a group of its own while the main thread runs collectives on another.
    g_async = dist.new_group(list(range(world)))
    src = save_dict(rank, world)
    fut = sd.save_async(src, os.path.join(root, "d"), process_group=g_async, max_shard_size=800)
    src["norm"].add_(1)  # after the snapshot: not saved
    dist.barrier()
    fut.result(timeout=60)
    d = load_dict(rank, world)
    sd.load(d, os.path.join(root, "d"))
    check(d, rank, world)

    # Errors found on one rank reach every rank: a bad value, ranks that disagree on a
    # tensor's dtype (found by the plan), a tensor missing from the checkpoint.
    before = snapshot(a)
    bad = save_dict(rank, world)
    if rank == 3:
        bad["oops"] = "not a tensor"
    expect_error("InvalidArgument", lambda: sd.save(bad, a), "'oops'")
    bad = save_dict(rank, world)
    if rank == 1:
        bad["norm"] = bad["norm"].double()
    expect_error("InvalidArgument", lambda: sd.save(bad, a), "'norm'", "rank 0 declares F32",
                 "rank 1 declares F64")
    want = load_dict(rank, world)
    if rank == 2:
        want["missing"] = torch.zeros(1)
    expect_error("UnknownTensor", lambda: sd.load(want, a), "missing")

    # A diverged replica: every rank gets CrcMismatch naming the tensor and the ranks.
    expect_error("CrcMismatch", lambda: sd.save(save_dict(rank, world, bad_replica=rank == 2),
                                               a, max_shard_size=800), "'norm'", "ranks 0, 2")
    # A rank whose writes fail (its files are gone): every rank gets the error.
    real = _stsw.dist_write_rank
    if rank == 1:
        _stsw.dist_write_rank = lambda plan, r, tf, bufs, durable: real(
            plan, r, [os.path.join(root, "missing", "x")] * len(tf), bufs, durable)
    try:
        expect_error("Io", lambda: sd.save(save_dict(rank, world), a, max_shard_size=800),
                     "rank 1:", "previous checkpoint is unchanged")
    finally:
        _stsw.dist_write_rank = real
    dist.barrier()
    after = snapshot(a)
    assert after == before, ("a failed save changed the previous checkpoint: "
                             f"{sorted(set(before) ^ set(after))} "
                             f"{[n for n in before if n in after and before[n] != after[n]]}")
    dist.barrier()  # every rank has looked before rank 0 corrupts a shard below

    # A corrupted shard: row-block loads (CRC assembled across ranks) fail everywhere.
    if rank == 0:
        with stsw.StreamReader(os.path.join(a, "model.safetensors.index.json")) as r:
            shard = r.file_of("emb")
            at = r.file_offset("emb") + 5 * COLS * 4 + 1
        with open(shard, "r+b") as fh:
            fh.seek(at)
            byte = fh.read(1)
            fh.seek(at)
            fh.write(bytes([byte[0] ^ 0x10]))
    dist.barrier()
    expect_error("CrcMismatch", lambda: sd.load(load_dict(rank, world), a), "'emb'")


def killed(rank: int, world: int, root: str):
    a = os.path.join(root, "a")
    sd.save(save_dict(rank, world), a, max_shard_size=800)  # the previous checkpoint
    dist.barrier()
    if rank == 1:
        real = _stsw.dist_write_rank

        def die(plan, r, tf, bufs, durable):
            real(plan, r, tf, bufs[:1] + [b[:0] for b in bufs[1:]], False)  # part written
            os._exit(3)

        _stsw.dist_write_rank = die
    try:
        sd.save(save_dict(rank, world), a, max_shard_size=800)
    except Exception as e:  # the collective fails when the peer is gone
        print(f"rank {rank}: save failed as expected: {type(e).__name__}: {e}", flush=True)
        os._exit(0)
    raise AssertionError("save succeeded although rank 1 died")


def column_blocks(part: int, parts: int, f=None):
    f = f or full()
    qkv, cube = f["emb"], f["cube"]
    c, k = COLS // parts, 4 // parts
    return {"qkv": sd.Shard(qkv[:, part * c:(part + 1) * c].contiguous(), (ROWS, COLS),
                            (0, part * c)),
            "cube": sd.Shard(cube[:, part * k:(part + 1) * k].contiguous(), (2, 4, COLS),
                             (0, part * k, 0))}


def columns(rank: int, world: int, root: str):
    sd.ENGINE_RUN = 16  # qkv's short column runs mapped, the cube's runs and rows by the engine
    f = full()
    f["cube"] = torch.arange(2 * 4 * COLS, dtype=torch.float32).reshape(2, 4, COLS)
    e = os.path.join(root, "e")
    sd.save(column_blocks(rank, world, f), e)
    # A smaller world: 2 of 4 ranks (or 1 of 2), as columns and as row blocks.
    parts = world // 2
    group = dist.new_group(list(range(parts)))
    if rank < parts:
        d = column_blocks(rank, parts, {"emb": torch.zeros(ROWS, COLS),
                                        "cube": torch.zeros(2, 4, COLS)})
        sd.load(d, e, process_group=group)
        want = column_blocks(rank, parts, f)
        for k in d:
            assert torch.equal(d[k].local_tensor, want[k].local_tensor), f"{k} differs"
        r0, n = rows_of(rank, parts)
        d = {"qkv": sd.Shard(torch.zeros(n, COLS), (ROWS, COLS), (r0, 0))}
        sd.load(d, e, process_group=group)
        assert torch.equal(d["qkv"].local_tensor, f["emb"][r0:r0 + n]), "qkv rows differ"
    d = {"qkv": torch.zeros(ROWS, COLS), "cube": torch.zeros(2, 4, COLS)}
    sd.load(d, e)
    assert torch.equal(d["qkv"], f["emb"]) and torch.equal(d["cube"], f["cube"])
    dist.barrier()
    if rank == 0:  # one flipped byte in qkv's last column block
        path = os.path.join(e, "model.safetensors")
        with stsw.StreamReader(path) as r:
            at = r.file_offset("qkv") + r.meta("qkv").nbytes - 2
        with open(path, "r+b") as fh:
            fh.seek(at)
            b = fh.read(1)
            fh.seek(at)
            fh.write(bytes([b[0] ^ 0x10]))
    dist.barrier()
    d = column_blocks(rank, world, {"emb": torch.zeros(ROWS, COLS),
                                    "cube": torch.zeros(2, 4, COLS)})
    expect_error("CrcMismatch", lambda: sd.load(d, e), "qkv")


# 64 MiB tensors, 32 MiB blocks: copies of 32 MiB or more are mapped by glibc, as the
# contiguous tensors of a model mostly are; smaller copies come from the heap once glibc's
# dynamic mmap threshold rose, where the small allocations made between two copies can keep
# freed ones from being reused (+140-155 MiB here for 16 x 16 MiB blocks, +94 MiB with
# MALLOC_MMAP_THRESHOLD_=1048576): the allocator's slack, not copies kept alive.
LAZY_ROWS, LAZY_COLS, LAZY_COUNT = 1024, 16384, 8


def lazy_block(i: int, part: int):
    """Rank `part`'s column half of tensor i: a transposed view (needs a copy to be saved)."""
    g = torch.Generator().manual_seed(1000 + 2 * i + part)
    return torch.randn(LAZY_COLS // 2, LAZY_ROWS, generator=g).t()


def hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


def lazy(rank: int, world: int, root: str):
    assert world == 2
    half = LAZY_COLS // 2
    state = {f"t{i:02d}": sd.Shard(lazy_block(i, rank), (LAZY_ROWS, LAZY_COLS), (0, rank * half))
             for i in range(LAZY_COUNT)}
    assert not state["t00"].local_tensor.is_contiguous()
    path = os.path.join(root, "lazy")
    dist.barrier()
    with open("/proc/self/clear_refs", "w") as f:  # the peak from here on
        f.write("5")
    before = hwm_kib()
    sd.save(state, path, durable=False)
    growth = (hwm_kib() - before) * 1024
    block = LAZY_ROWS * half * 4
    limit = block + (80 << 20)
    print(f"rank {rank}: saving {LAZY_COUNT * block >> 20} MiB of transposed column blocks "
          f"grew the peak RSS by {growth / (1 << 20):.0f} MiB (limit {limit >> 20} MiB)",
          flush=True)
    assert growth < limit, growth
    # Each rank's blocks back, and one tensor whole.
    for name in ("t00", "t04", "t07"):
        got = {name: sd.Shard(torch.zeros(LAZY_ROWS, half), (LAZY_ROWS, LAZY_COLS),
                              (0, rank * half))}
        sd.load(got, path)
        assert torch.equal(got[name].local_tensor, state[name].local_tensor), name
    whole = stsw.load(os.path.join(path, "model.safetensors"))["t03"]
    assert torch.equal(whole, torch.cat([lazy_block(3, 0), lazy_block(3, 1)], dim=1))
    del whole
    dist.barrier()

    # A copy failing on rank 1 (its second tensor): both ranks get the error, nothing moves.
    small = os.path.join(root, "lazyfail")
    base = torch.arange(64, dtype=torch.float32).reshape(8, 8)

    def blocks(scale):  # column blocks, each a transposed view of a [4, 8] tensor
        cols = slice(rank * 4, (rank + 1) * 4)
        return {n: sd.Shard((base * scale + k)[:, cols].t().contiguous().t(), (8, 8),
                            (0, rank * 4)) for k, n in enumerate(("a", "b", "c"))}

    sd.save(blocks(1), small, durable=False)
    before = snapshot(small)
    from stsw import _dtypes

    real = _dtypes._torch_plain
    calls = []
    if rank == 1:
        def failing(t):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("copy failed on purpose")
            return real(t)

        _dtypes._torch_plain = failing
    try:
        expect_error("Io", lambda: sd.save(blocks(2), small, durable=False),
                     "rank 1:", "'b'", "copy failed on purpose",
                     "previous checkpoint is unchanged")
    finally:
        _dtypes._torch_plain = real
    if rank == 1:
        assert len(calls) == 2, calls  # 'c' was never copied
    dist.barrier()
    assert snapshot(small) == before


def main():
    scenario, rank, world, port, root = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=30))
    scenarios = {"matrix": matrix, "killed": killed, "columns": columns, "lazy": lazy}
    scenarios[scenario](rank, world, root)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
