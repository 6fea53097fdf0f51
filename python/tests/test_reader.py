"""StreamReader surface: views and their lifetime, mmap=False, len/in/iter, metadata,
verify, and peak memory of load and dump (measured in a child process, not timed)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import stsw


@pytest.fixture
def model(tmp_path):
    p = tmp_path / "m.safetensors"
    stsw.dump({"a": np.arange(1000, dtype=np.float32), "b": np.ones((3, 3), np.int8)}, p,
              metadata={"format": "pt", "note": "x"})
    return p


def test_surface(model):
    with stsw.StreamReader(model) as r:
        assert len(r) == 2 and "a" in r and "zz" not in r and 3 not in r
        assert list(r) == r.keys() == ["a", "b"]
        assert r.metadata == {"format": "pt", "note": "x"}
        m = r.meta("a")
        assert (m.dtype, m.shape, m.nbytes, m.offset_begin) == ("F32", (1000,), 4000, 0)
        assert isinstance(m.crc32, int)
        assert not r.sharded and r.shards()[0]["path"] == str(model)
        rep = r.verify()
        assert rep.passed and rep.ok == 2 and {t.status for t in rep.tensors} == {"ok"}
        assert "2 tensors" in repr(r)
    assert r.closed


def test_views_outlive_the_reader(model):
    r = stsw.StreamReader(model)
    view = r.to_numpy("a", copy=False)
    raw = r.get_slice("b")
    assert raw.readonly and raw.nbytes == 9
    with pytest.raises(ValueError):
        view[0] = 1
    r.close()
    assert view.sum() == sum(range(1000))  # the mapping is still alive
    assert raw.tobytes() == b"\x01" * 9


def test_without_mmap(model):
    with stsw.StreamReader(model, mmap=False) as r:
        assert r.get_slice("b").tobytes() == b"\x01" * 9
        with pytest.raises(stsw.Error) as e:
            r.to_numpy("a", copy=False)
        assert e.value.kind == "InvalidArgument"
        np.testing.assert_array_equal(r.to_numpy("a"), np.arange(1000, dtype=np.float32))


@pytest.mark.parametrize("io_mode", ["direct", "buffered", "mmap"])
def test_io_modes(model, io_mode):
    with stsw.StreamReader(model, io_mode=io_mode) as r:
        np.testing.assert_array_equal(r.to_numpy("a"), np.arange(1000, dtype=np.float32))


MEMORY_CHILD = textwrap.dedent('''
    import json, sys, threading, time
    import numpy as np, torch, stsw
    # Anonymous memory only (RssAnon, sampled): shared-library pages that the page cache
    # maps in or out would blur a VmHWM-based figure.
    def anon():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    peak = [0]
    stop = threading.Event()
    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], anon())
            time.sleep(0.001)
    op, path = sys.argv[1], sys.argv[2]
    n = 128 << 20
    if op == "dump":
        state = {f"t{i}": torch.full((n // 4 // 4,), float(i)) for i in range(4)}
    before = anon()
    t = threading.Thread(target=sample)
    t.start()
    if op == "dump":
        stsw.dump(state, path)
        returned = 0
    else:
        out = stsw.load(path)
        returned = sum(t.numel() * t.element_size() for t in out.values())
    stop.set()
    t.join()
    peak[0] = max(peak[0], anon())
    print(json.dumps({"beyond": peak[0] - before - returned}))
''')


def test_peak_memory_beyond_tensors(tmp_path):
    """dump and load of 128 MiB hold at most 100 MB beyond the tensors (issue 13)."""
    path = str(tmp_path / "big.safetensors")
    for op in ("dump", "load"):
        res = subprocess.run([sys.executable, "-c", MEMORY_CHILD, op, path],
                             capture_output=True, text=True, check=True)
        beyond = json.loads(res.stdout.strip().splitlines()[-1])["beyond"]
        assert beyond <= 100e6, (op, beyond)


def test_large_destinations_are_congruent_with_the_file(tmp_path):
    """to_numpy/to_torch/load carve big destinations at the file offset modulo 4096, so
    cold O_DIRECT reads land in them without a staging copy (stsw/_alloc.py)."""
    import torch

    p = tmp_path / "m.safetensors"
    stsw.dump({"big": np.arange(1 << 19, dtype=np.float32), "small": np.ones(3, np.int64),
               "big2": np.arange(1 << 18, dtype=np.float64)}, p)
    with stsw.StreamReader(p) as r:
        assert any(r.file_offset(n) % 4096 for n in ("big", "big2"))  # else the check is moot
        for name in ("big", "big2"):
            off = r.file_offset(name)
            a = r.to_numpy(name)
            t = r.to_torch(name)
            assert a.ctypes.data % 4096 == off % 4096 and t.data_ptr() % 4096 == off % 4096
            np.testing.assert_array_equal(a, t.numpy())
        loaded = stsw.load(p)
        assert loaded["big2"].data_ptr() % 4096 == r.file_offset("big2") % 4096
        assert torch.equal(loaded["big2"], torch.arange(1 << 18, dtype=torch.float64))
        assert loaded["small"].tolist() == [1, 1, 1]
