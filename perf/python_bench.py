#!/usr/bin/env python3
"""Python stsw against the C++ library and PyTorch, in one run (issue 13's targets).

    PYTHONPATH=build/python /usr/bin/python3 perf/python_bench.py --size 4GiB --dir /mnt/nvme

Rows (each measured in a fresh child process, so peak RSS is per operation):
  * stsw.dump of a state dict of torch tensors (durable: fdatasync + directory fsync)
  * torch.save of the same state dict + fsync of the file and its directory
  * C++ StreamWriter and C++ read_into, cold (build/bin/stsw-bench, same size, same dir)
  * stsw.load (all tensors, cold), StreamReader.to_torch per tensor (cold), torch.load (cold)
Cold: the file is evicted from the page cache before the read (drop_caches when writable,
else fdatasync + posix_fadvise(DONTNEED)), and the resident fraction is checked. "RSS
beyond tensors" is the child's peak anonymous RSS (RssAnon sampled every ms) minus its
value before the operation, minus the tensor bytes the operation returns (load) or already
held (dump: 0); "HWM" is the same from VmHWM (which also counts library pages).

Targets: stsw.dump >= 0.9x the C++ writer and faster than torch.save; load/to_torch cold
>= 0.9x C++ read_into cold and faster than torch.load; RSS beyond tensors <= 100 MB.
Needs torch, numpy, the built package (PYTHONPATH=<build>/python) and <build>/bin/stsw-bench.
Use a small --size (e.g. 256MiB) to check it works; the targets are for 4GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UNITS = {"": 1, "B": 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20,
         "G": 1 << 30, "GiB": 1 << 30, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9}


def parse_size(s: str) -> int:
    digits = len(s) - len(s.lstrip("0123456789"))
    if digits == 0 or s[digits:] not in UNITS:
        raise argparse.ArgumentTypeError(f"bad size {s!r} (e.g. 4GiB, 256M, 5GB)")
    return int(s[:digits]) * UNITS[s[digits:]]


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_anon() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class AnonPeak:
    """Samples RssAnon every millisecond on a thread (stsw and torch release the GIL):
    the peak of anonymous memory, which page-cache-mapped library pages do not blur."""

    def __init__(self):
        import threading

        self.peak = rss_anon()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_anon())
            time.sleep(0.001)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_anon())


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def evict(path: str) -> float:
    """Drops `path` from the page cache; returns the resident fraction afterwards."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            os.sync()
            f.write("3\n")
    except OSError:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return resident(path)


def resident(path: str) -> float:
    """Fraction of the file in the page cache (mmap + mincore via libc); -1 if unknown."""
    import ctypes
    import mmap

    size = os.path.getsize(path)
    if size == 0:
        return 0.0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            return -1.0
        try:
            pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
            vec = (ctypes.c_ubyte * pages)()
            if libc.mincore(addr, size, vec) != 0:
                return -1.0
            return sum(v & 1 for v in vec) / pages
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)


def make_state(size: int):
    import torch

    tensor_bytes = min(64 << 20, max(1 << 20, size // 16))
    n = max(1, size // tensor_bytes)
    state = {}
    for i in range(n):
        t = torch.empty(tensor_bytes // 4, dtype=torch.float32)
        t.fill_(float(i))
        state[f"layer.{i:04d}.weight"] = t
    return state


# ---- children ---------------------------------------------------------------------------
def child(op: str, path: str, size: int) -> dict:
    import torch  # noqa: F401 - imported before the baseline, as in a real program

    import stsw

    result = {"op": op}
    if op in ("dump", "torch_save"):
        state = make_state(size)
        nbytes = sum(t.numel() * t.element_size() for t in state.values())
        base, anon0 = rss_now(), rss_anon()
        t0 = time.perf_counter()
        with AnonPeak() as mem:
            if op == "dump":
                stsw.dump(state, path)
            else:
                torch.save(state, path)
                fsync_path(path)
        seconds = time.perf_counter() - t0
        returned = 0
    else:
        base, anon0 = rss_now(), rss_anon()
        t0 = time.perf_counter()
        with AnonPeak() as mem:
            if op == "stsw_load":
                out = stsw.load(path)
            elif op == "to_torch":
                with stsw.StreamReader(path) as r:
                    out = {k: r.to_torch(k) for k in r.keys()}
            elif op == "torch_load":
                out = torch.load(path)
            else:
                raise SystemExit(f"unknown op {op}")
        seconds = time.perf_counter() - t0
        nbytes = sum(t.numel() * t.element_size() for t in out.values())
        returned = nbytes
    result.update(seconds=seconds, bytes=nbytes,
                  rss_beyond=max(0, mem.peak - anon0 - returned),
                  hwm_beyond=max(0, peak_rss() - base - returned), backend=stsw.backend())
    return result


def run_child(op: str, path: str, size: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", op, "--path", path,
           "--size", str(size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpp_rows(bench: str, size: int, directory: str) -> dict:
    cmd = [bench, "--size", str(size), "--dir", directory, "--workloads", "write,read-cold",
           "--reps", "1", "--baselines", "none", "--no-crc-rows", "--fresh-memory", "--quiet",
           "--json", "-"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": (res.stderr or res.stdout).strip()[-400:]}
    doc = json.loads(res.stdout)
    rows = {}
    for row in doc.get("rows", []):
        rows[f"{row.get('group')}:{row.get('id')}"] = row
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=parse_size, default=parse_size("4GiB"))
    ap.add_argument("--dir", default=None, help="directory for the files (default: a temp dir)")
    ap.add_argument("--bench", default=None, help="stsw-bench binary (default build/bin)")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path, args.size)))
        return 0

    root = Path(__file__).resolve().parent.parent
    bench = args.bench or str(root / "build" / "bin" / "stsw-bench")
    tmp = tempfile.mkdtemp(prefix="stsw-pybench-", dir=args.dir)
    st_path = os.path.join(tmp, "model.safetensors")
    pt_path = os.path.join(tmp, "model.pt")
    results = {}
    try:
        results["stsw.dump"] = run_child("dump", st_path, args.size)
        results["torch.save+fsync"] = run_child("torch_save", pt_path, args.size)
        for name, op, path in (("stsw.load (cold)", "stsw_load", st_path),
                               ("StreamReader.to_torch (cold)", "to_torch", st_path),
                               ("torch.load (cold)", "torch_load", pt_path)):
            left = evict(path)
            results[name] = run_child(op, path, args.size)
            results[name]["resident_before"] = left
        os.remove(pt_path)
        os.remove(st_path)
        cpp = cpp_rows(bench, args.size, tmp) if os.path.exists(bench) else {
            "error": f"{bench} not found"}
    finally:
        for p in (st_path, pt_path):
            if os.path.exists(p):
                os.remove(p)
        os.rmdir(tmp)

    def gbps(r):
        return r["bytes"] / r["seconds"] / 1e9

    print(f"python stsw benchmark: {args.size / 2**30:.2f} GiB of float32 torch tensors, "
          f"backend {results['stsw.dump'].get('backend')}, dir {args.dir or tempfile.gettempdir()}")
    print(f"{'row':34} {'GB/s':>7} {'seconds':>8} {'RSS beyond tensors':>19} {'(HWM)':>10}")
    for name, r in results.items():
        cold = ""
        if "resident_before" in r:
            cold = "" if 0 <= r["resident_before"] <= 0.01 else f"  (not cold: {r['resident_before']:.0%} cached)"
        print(f"{name:34} {gbps(r):7.2f} {r['seconds']:8.2f} {r['rss_beyond'] / 1e6:16.1f} MB "
              f"{r['hwm_beyond'] / 1e6:7.1f} MB{cold}")
    cpp_w = None
    cpp_reads = {}
    if "error" in cpp:
        print(f"C++ rows unavailable: {cpp['error']}")
    else:
        for key, row in cpp.items():
            g = row["gbps"]["median"]
            print(f"C++ {row.get('label') or key:30} {g:7.2f} {row['seconds']['median']:8.2f} "
                  f"{row['peak_rss_growth']['median'] / 1e6:16.1f} MB")
            group = str(row.get("group", ""))
            ident = str(row.get("id", ""))
            if "stsw" in ident and "write" in group and cpp_w is None:
                cpp_w = g
            if "stsw" in ident and "read" in group and "cold" in group:
                cpp_reads[row.get("label") or ident] = g
    print("ratios:")
    dump_g = gbps(results["stsw.dump"])
    load_g = gbps(results["stsw.load (cold)"])
    tt_g = gbps(results["StreamReader.to_torch (cold)"])
    if cpp_w:
        print(f"  stsw.dump / C++ StreamWriter      {dump_g / cpp_w:5.2f}  (target >= 0.9)")
    for label, g in cpp_reads.items():
        print(f"  stsw.load / C++ {label}: {load_g / g:5.2f}, to_torch: {tt_g / g:5.2f}  (target >= 0.9)")
    print(f"  stsw.dump / torch.save+fsync      {dump_g / gbps(results['torch.save+fsync']):5.2f}  (target > 1)")
    print(f"  stsw.load / torch.load            {load_g / gbps(results['torch.load (cold)']):5.2f}  (target > 1)")
    if args.json:
        Path(args.json).write_text(json.dumps({"size": args.size, "python": results, "cpp": cpp},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
