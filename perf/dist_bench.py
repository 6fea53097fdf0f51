"""Multi-rank checkpoint benchmark: N ranks (gloo on 127.0.0.1) save and load TOTAL bytes.

    PYTHONPATH=build/python /usr/bin/python3 perf/dist_bench.py --dir /var/tmp/x \
        [--ranks 4] [--total 4GiB]

Methods, in the same run, each on the same bytes (every rank holds TOTAL/ranks of row blocks
of 8 tensors plus a small replicated one):
  stsw-dist     stsw.distributed.save (one consolidated HF checkpoint, crc32, durable)
  torch-ranks   each rank torch.save of its own state dict to its own file, fsync included
  gather-stsw   all tensors gathered to rank 0 (gloo), rank 0 writes them with stsw.dump
  one-process   (baseline) stsw.dump of the same TOTAL bytes from one process
  load          stsw.distributed.load at the same world size (verified, page cache dropped
                where possible)
Every process starts its stsw engine before the timed region (a training job saves many
times from one process). Per method: wall seconds (slowest rank, barrier to barrier), GB/s,
CPU seconds per GB (sum over ranks), peak RSS per rank (max). Prints one table; the ratio
column compares with the one-process dump rate (the target: stsw-dist >= 0.8x).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time

TENSORS = 8
COLS = 1024


def parse_size(s: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([KMG]i?B?)?", s.strip(), re.I)
    if not m:
        raise SystemExit(f"bad size {s!r}")
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[(m.group(2) or "")[:1].upper()]
    return int(m.group(1)) * mult


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def drop_caches(path: str) -> None:
    try:
        subprocess.run(["sync"], check=False)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError:
        pass  # not root: loads read from the page cache


def worker(rank: int, world: int, port: int, d: str, total: int) -> None:
    import datetime

    import torch
    import torch.distributed as dist

    import stsw
    import stsw.distributed as sd

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=600))
    stsw.backend()  # the engine starts once per process, before the timed saves
    rows = max(world, total // (TENSORS * COLS * 4) // world * world)
    mine = rows // world
    state = {f"layer{i}": sd.Shard(torch.full((mine, COLS), float(rank + i)), (rows, COLS),
                                   (rank * mine, 0)) for i in range(TENSORS)}
    state["norm"] = torch.ones(COLS)
    nbytes = TENSORS * rows * COLS * 4
    out = {}

    def timed(name, fn):
        dist.barrier()
        c0, t0 = cpu(), time.perf_counter()
        fn()
        dist.barrier()
        out[name] = (time.perf_counter() - t0, cpu() - c0)

    def torch_ranks():
        p = os.path.join(d, f"rank{rank}.pt")
        torch.save({k: (v.local_tensor if isinstance(v, sd.Shard) else v)
                    for k, v in state.items()}, p)
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    def gather_stsw():
        full = {}
        for k, v in state.items():
            t = v.local_tensor if isinstance(v, sd.Shard) else v
            if isinstance(v, sd.Shard):
                parts = [torch.empty_like(t) for _ in range(world)] if rank == 0 else None
                dist.gather(t, parts, dst=0)
                if rank == 0:
                    full[k] = torch.cat(parts)
            elif rank == 0:
                full[k] = t
        if rank == 0:
            stsw.dump(full, os.path.join(d, "gathered.safetensors"))

    timed("stsw-dist", lambda: sd.save(state, os.path.join(d, "ckpt")))
    timed("torch-ranks", torch_ranks)
    timed("gather-stsw", gather_stsw)
    if rank == 0:
        drop_caches(d)
    load = {k: sd.Shard(torch.empty_like(v.local_tensor), v.global_shape, v.offsets)
            if isinstance(v, sd.Shard) else torch.empty_like(v) for k, v in state.items()}
    timed("load", lambda: sd.load(load, os.path.join(d, "ckpt")))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps({"rank": rank, "bytes": nbytes, "times": out, "rss": rss}),
          flush=True)
    dist.destroy_process_group()


def one_process(d: str, total: int) -> tuple:
    import torch

    import stsw

    rows = max(1, total // (TENSORS * COLS * 4))
    state = {f"layer{i}": torch.full((rows, COLS), float(i)) for i in range(TENSORS)}
    stsw.backend()  # as in the ranks: the engine's start is not part of the save
    c0, t0 = cpu(), time.perf_counter()
    stsw.dump(state, os.path.join(d, "one.safetensors"))
    return time.perf_counter() - t0, cpu() - c0, TENSORS * rows * COLS * 4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--total", default="4GiB")
    ap.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    total = parse_size(a.total)
    if a.worker:
        worker(a.worker[0], a.ranks, a.worker[2], a.dir, total)
        return
    os.makedirs(a.dir, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, __file__, "--dir", a.dir, "--ranks", str(a.ranks),
                               "--total", a.total, "--worker", str(r), str(a.ranks), str(port)],
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, GLOO_SOCKET_IFNAME="lo"))
             for r in range(a.ranks)]
    results = []
    for p in procs:
        text, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a rank failed ({p.returncode})")
        results += [json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")]
    base_wall, base_cpu, base_bytes = one_process(a.dir, total)
    base_rate = base_bytes / base_wall / 1e9
    nbytes = results[0]["bytes"]
    gb = nbytes / 1e9
    print(f"{a.ranks} ranks, {nbytes / 2**30:.2f} GiB; one-process stsw.dump: "
          f"{base_rate:.2f} GB/s, {base_cpu / (base_bytes / 1e9):.2f} CPU s/GB")
    print(f"{'method':<12} {'wall s':>8} {'GB/s':>7} {'x 1-proc':>8} {'CPU s/GB':>9} "
          f"{'peak RSS/rank MiB':>18}")
    rss = max(r["rss"] for r in results) / 2**20
    for m in ("stsw-dist", "torch-ranks", "gather-stsw", "load"):
        wall = max(r["times"][m][0] for r in results)
        cpu_s = sum(r["times"][m][1] for r in results)
        print(f"{m:<12} {wall:8.3f} {gb / wall:7.2f} {gb / wall / base_rate:8.2f} "
              f"{cpu_s / gb:9.2f} {rss:18.0f}")
    print("(peak RSS is the whole run's, per rank: it includes the gather and the load)")


if __name__ == "__main__":
    main()
