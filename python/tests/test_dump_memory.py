"""stsw.dump's memory bound: tensors that need a contiguous copy (transposed torch tensors,
strided or big-endian NumPy arrays) are copied one at a time, just before each is written,
so a dump of such a model holds about one extra tensor, not a second copy of the model.

The peak is measured in a fresh interpreter (VmHWM of /proc/self/status, reset right
before the dump where the kernel allows it) so that nothing else this pytest process did
counts; the values are then checked byte for byte with an independent reader of the
official format (conftest.official_check plus plain file reads) and with StreamReader.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import stsw
from conftest import official_check

HERE = Path(__file__).resolve().parent
MIB = 1 << 20
TENSOR_BYTES = 32 * MIB
COUNT = 16  # 512 MiB of tensors, every one of them non-contiguous


def make_state():
    """COUNT non-contiguous tensors of TENSOR_BYTES each, made without temporaries (so the
    peak before the dump is the model itself): transposed torch F32/I32, transposed and
    strided NumPy arrays, and big-endian NumPy arrays (which also need a byte-order
    conversion: the path that converts while it copies)."""
    rows, cols = 4096, TENSOR_BYTES // 4 // 4096
    g = torch.Generator().manual_seed(21)
    state = {}
    for i in range(COUNT):
        kind = i % 4
        if kind == 0:  # torch F32, transposed
            state[f"t{i:02d}"] = torch.randn(rows, cols, generator=g).t()
        elif kind == 1:  # torch I32, a column-major view
            state[f"t{i:02d}"] = torch.randint(-(1 << 30), 1 << 30, (cols, rows), generator=g,
                                               dtype=torch.int32).t()
        elif kind == 2:  # NumPy F32, transposed (Fortran order)
            a = np.empty((rows, cols), np.float32, order="F")
            a[...] = i
            a[::7, ::3] = -1.5 * i
            state[f"t{i:02d}"] = a
        else:  # NumPy big-endian I32, transposed: needs a byte swap and a contiguous copy
            a = np.empty((cols, rows), ">i4")
            a[...] = i
            a[:, ::5] = 1000 * i + 7
            state[f"t{i:02d}"] = a.T
    for v in state.values():
        contiguous = v.is_contiguous() if isinstance(v, torch.Tensor) else v.flags.c_contiguous
        assert not contiguous
    return state


def expected_bytes(value) -> bytes:
    """The little-endian C-order bytes the file must hold for `value`."""
    if isinstance(value, torch.Tensor):
        value = value.contiguous().numpy()
    return np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()


CHILD = r"""  # format with call: the call to measure, on `state` and sys.argv[2]
import json, sys
sys.path.insert(0, sys.argv[1])
import stsw, stsw.distributed
from test_dump_memory import make_state

def hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

state = make_state()
try:  # reset the peak to the current RSS (Linux >= 4.0): the model's creation is not counted
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    reset = True
except OSError:
    reset = False
before = hwm_kib()
{call}
after = hwm_kib()
print(json.dumps({{"before_kib": before, "after_kib": after, "reset": reset}}))
"""
def peak_growth(call: str, out: Path) -> tuple[int, dict]:
    """Bytes the peak RSS of a fresh interpreter grew by during `call` (Python source run on
    make_state()'s `state` and the output path `sys.argv[2]`), and the child's report."""
    proc = subprocess.run([sys.executable, "-c", CHILD.format(call=call), str(HERE), str(out)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return (got["after_kib"] - got["before_kib"]) * 1024, got


def assert_about_one_tensor(what: str, call: str, out: Path) -> None:
    """`call` (see peak_growth) on make_state() grows the peak RSS by one tensor's copy plus
    the engine's staging buffers (6 x 8 MiB by default) and allocator slack: far below the
    512 MiB that copying every tensor up front holds."""
    growth, got = peak_growth(call, out)
    total = COUNT * TENSOR_BYTES
    limit = TENSOR_BYTES + 80 * MIB
    print(f"{what} of {total // MIB} MiB of non-contiguous tensors: peak RSS grew by "
          f"{growth / MIB:.0f} MiB (limit {limit // MIB} MiB, HWM reset: {got['reset']})")
    assert growth < limit, (growth / MIB, got)


def check_raw_bytes(path: Path, state) -> None:
    """Each tensor of `state` is in `path` (checked by the official loader's rules) as the
    little-endian C-order bytes of its values, read with plain file reads."""
    header = official_check(path)
    with open(path, "rb") as f:
        (n,) = np.frombuffer(f.read(8), "<u8")
        for name, value in state.items():
            info = header[name]
            assert list(info["shape"]) == list(value.shape), name
            b, e = info["data_offsets"]
            f.seek(8 + int(n) + b)
            assert f.read(e - b) == expected_bytes(value), name


def test_dump_copies_non_contiguous_tensors_one_at_a_time(tmp_path):
    path = tmp_path / "m.safetensors"
    assert_about_one_tensor("dump", "stsw.dump(state, sys.argv[2], durable=False)", path)

    state = make_state()  # deterministic: the same values as the child's
    check_raw_bytes(path, state)
    with stsw.StreamReader(path) as r:
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                back = r.to_torch(name)
                assert back.dtype == value.dtype and torch.equal(back, value), name
            else:
                back = r.to_numpy(name)
                assert back.dtype == value.dtype.newbyteorder("<"), name
                np.testing.assert_array_equal(back, value, err_msg=name)
        assert r.verify().ok


def test_dump_contiguous_and_lazy_copies_mixed_with_sharding(tmp_path):
    """Contiguous tensors (read in place), tensors needing a copy (transposed, negative
    view, conjugate view, big-endian strided) and an empty one, across shards and in both
    orders: the copies are made lazily, the bytes are the same as a contiguous dump's."""
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    c = torch.complex(torch.arange(6, dtype=torch.float32), torch.ones(6))
    state = {
        "contig": base,
        "trans": base.t(),
        "neg": base.t()._neg_view(),  # a negative view: resolved while copied
        "conj": c.conj(),
        "be_strided": np.arange(40, dtype=">i2").reshape(5, 8)[:, ::2],
        "empty_t": torch.empty(0, 3).t(),
        "np_f": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    }
    plain = {k: (v.resolve_conj().resolve_neg().contiguous() if isinstance(v, torch.Tensor)
                 else np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<")))
             for k, v in state.items()}
    for order in ("canonical", "keep"):
        for shard in (None, 100):
            a = tmp_path / f"a-{order}-{shard}" / "m.safetensors"
            b = tmp_path / f"b-{order}-{shard}" / "m.safetensors"
            a.parent.mkdir()
            b.parent.mkdir()
            fa = stsw.dump(state, a, order=order, max_shard_size=shard)
            fb = stsw.dump(plain, b, order=order, max_shard_size=shard)
            assert [Path(p).name for p in fa] == [Path(p).name for p in fb]
            for pa, pb in zip(fa, fb):
                assert Path(pa).read_bytes() == Path(pb).read_bytes(), (order, shard, pa)
            back = stsw.load(fa[-1])  # the file, or the index of the shards
            for k, v in plain.items():
                want = torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                assert torch.equal(back[k], want), k


def test_dump_error_while_copying_leaves_previous_file(tmp_path, monkeypatch):
    """An exception raised while a deferred copy is made fails the dump with that
    exception, and the file at `path` stays as it was."""
    path = tmp_path / "m.safetensors"
    stsw.dump({"old": np.ones(3, np.float32)}, path)
    before = path.read_bytes()

    class Boom(Exception):
        pass

    real = torch.Tensor.contiguous

    def contiguous(self, *a, **k):
        if self.shape == (5, 4):
            raise Boom("copy failed")
        return real(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, "contiguous", contiguous)
    state = {"a": torch.ones(8), "b": torch.zeros(4, 5).t(), "c": torch.ones(3, 2).t()}
    with pytest.raises(Boom):
        stsw.dump(state, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_contiguous_data_is_passed_in_place_and_copies_are_deferred():
    """What stsw.dump hands to the C++ dump: contiguous little-endian CPU data itself (no
    copy), and for everything else a function that makes the copy only when called."""
    from stsw._dtypes import source_of

    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    a = np.arange(12, dtype="<i4").reshape(3, 4)
    for value in (t, t[1:], t.detach().requires_grad_(), a, a[1:], np.float32(3) * a):
        dtype, shape, data = source_of(value, "x", defer=True)
        assert not callable(data)
        base = value.detach().numpy() if isinstance(value, torch.Tensor) else value
        assert np.shares_memory(np.asarray(data), base), value
    for value in (t.t(), t[:, ::2], t.conj() if t.is_complex() else t.t()._neg_view(),
                  a.T, a[:, ::2], a.astype(">i4")):
        dtype, shape, data = source_of(value, "x", defer=True)
        assert callable(data), value
        assert shape == tuple(value.shape)
        made = np.asarray(data())
        assert made.flags.c_contiguous and made.dtype.byteorder in "<=|"
        want = value.resolve_neg().contiguous().numpy() if isinstance(value, torch.Tensor) \
            else np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        assert made.tobytes() == want.tobytes()
