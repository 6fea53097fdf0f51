"""Reads in flight across tensors: to_torch/to_numpy read-ahead on a sequential pass
(stsw/_read_ahead.py) and stsw.load's batch, including a CRC mismatch mid-way."""

import threading

import numpy as np
import pytest

import stsw

MiB = 1 << 20


def state(n=8, elems=MiB // 4):
    import torch

    return {f"t{i}": torch.arange(elems, dtype=torch.float32) + i for i in range(n)}


def corrupt(path, r_offset):
    """Flips one byte at file offset `r_offset`."""
    data = bytearray(path.read_bytes())
    data[r_offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_sequential_pass_reads_ahead_and_returns_every_tensor(tmp_path):
    import torch

    p = tmp_path / "m.safetensors"
    sd = state()
    stsw.dump(sd, p)
    with stsw.StreamReader(p) as r:
        keys = r.keys()
        for i, k in enumerate(keys):
            assert torch.equal(r.to_torch(k), sd[k])
            pending = r._ahead.pending()
            assert pending == keys[i + 1:i + 1 + len(pending)]  # the next ones, in order
            if i + 1 < len(keys):
                assert pending, "a sequential pass reads the next tensor ahead"
        assert r._ahead.pending() == []
        for k in keys:  # to_numpy too, and a second pass starts over at the first tensor
            np.testing.assert_array_equal(r.to_numpy(k), sd[k].numpy())
        assert r._ahead.pending() == []


def test_read_ahead_is_bounded_and_can_be_turned_off(tmp_path):
    p = tmp_path / "m.safetensors"
    sd = state()
    sd["big"] = sd.pop("t5").repeat(4)  # 4 MiB, more than the budget below
    stsw.dump(sd, p, order="keep")
    with stsw.StreamReader(p, read_ahead=int(2.5 * MiB)) as r:
        for k in r.keys():
            r.to_torch(k)
            ahead = r._ahead.pending()
            assert len(ahead) <= 2 and "big" not in ahead
    with stsw.StreamReader(p, read_ahead=0) as r:
        for k in r.keys():
            r.to_torch(k)
            assert r._ahead.pending() == []


def test_crc_mismatch_mid_pass_names_the_tensor_and_the_pass_goes_on(tmp_path):
    import torch

    p = tmp_path / "m.safetensors"
    sd = state()
    stsw.dump(sd, p)
    with stsw.StreamReader(p) as r:
        bad = r.keys()[3]
        off = r.file_offset(bad) + 100
    corrupt(p, off)
    for read in ("to_torch", "to_numpy"):
        with stsw.StreamReader(p) as r:
            for k in r.keys():
                if k == bad:
                    with pytest.raises(stsw.Error) as e:
                        getattr(r, read)(k)
                    assert e.value.kind == "CrcMismatch" and f"'{bad}'" in e.value.message
                    continue
                got = getattr(r, read)(k)
                np.testing.assert_array_equal(np.asarray(got), sd[k].numpy())
    with stsw.StreamReader(p, verify_crc=False) as r:
        assert not torch.equal(r.to_torch(bad), sd[bad])


def test_out_of_order_request_drops_the_read_ahead(tmp_path):
    import torch

    p = tmp_path / "m.safetensors"
    sd = state()
    stsw.dump(sd, p)
    with stsw.StreamReader(p) as r:
        keys = r.keys()
        r.to_torch(keys[0])
        assert r._ahead.pending()
        assert torch.equal(r.to_torch(keys[6]), sd[keys[6]])
        assert r._ahead.pending() == []  # not a sequential pass: nothing read ahead
        assert torch.equal(r.to_torch(keys[7]), sd[keys[7]])


def test_close_waits_for_reads_ahead(tmp_path):
    p = tmp_path / "m.safetensors"
    stsw.dump(state(), p)
    r = stsw.StreamReader(p)
    r.to_torch(r.keys()[0])
    assert r._ahead.pending()
    r.close()
    assert r._ahead.pending() == []
    with pytest.raises(stsw.Error) as e:
        r.to_torch("t1")
    assert e.value.kind == "InvalidState"


def test_threads_sharing_a_reader_get_correct_tensors(tmp_path):
    import torch

    p = tmp_path / "m.safetensors"
    sd = state(12)
    stsw.dump(sd, p)
    errors = []
    with stsw.StreamReader(p) as r:
        def walk():
            try:
                for _ in range(3):
                    for k in r.keys():
                        assert torch.equal(r.to_torch(k), sd[k])
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=walk) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_load_crc_mismatch_mid_batch_waits_for_every_read(tmp_path, monkeypatch):
    """load keeps every read in flight; one failing raises CrcMismatch naming its tensor,
    and only after every other read has completed (none writes into freed memory)."""
    import sys

    dump_mod = sys.modules["stsw.dump"]  # the module (stsw.dump is the function)

    p = tmp_path / "m.safetensors"
    sd = state(8, 2 * MiB)
    stsw.dump(sd, p)
    with stsw.StreamReader(p) as r:
        bad = r.keys()[0]
        off = r.file_offset(bad) + 8
    corrupt(p, off)

    ops = []

    class Recording:
        def __init__(self, inner):
            self._inner = inner

        def read_into(self, name, view):
            op = self._inner.read_into(name, view)
            ops.append(op)
            return op

        def __getattr__(self, attr):
            return getattr(self._inner, attr)

    class Reader(stsw.StreamReader):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._r = Recording(self._r)

    monkeypatch.setattr(dump_mod, "StreamReader", Reader)
    for framework in ("pt", "np"):
        ops.clear()
        with pytest.raises(stsw.Error) as e:
            stsw.load(p, framework=framework)
        assert e.value.kind == "CrcMismatch" and f"'{bad}'" in e.value.message
        assert len(ops) == 8 and all(op.done() for op in ops)


def test_a_dropped_reader_closes_its_file_at_once(tmp_path):
    """The read-ahead refers to its reader weakly: dropping the last reference frees the
    reader (and, once its reads in flight complete, closes its file) without waiting for
    the cyclic GC."""
    import gc
    import os
    import time

    p = tmp_path / "m.safetensors"
    stsw.dump(state(4), p)

    def open_on_path():
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                n += os.readlink(f"/proc/self/fd/{fd}") == str(p)
            except OSError:
                pass
        return n

    gc.disable()
    try:
        r = stsw.StreamReader(p)
        r.to_torch("t0")
        assert r._ahead.pending() and open_on_path() > 0
        ops = [entry[2] for entry in r._ahead._ahead.values()]
        del r
        for op in ops:
            op.wait()
        deadline = time.monotonic() + 5  # the engine drops a read's hold just after it is done
        while open_on_path() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert open_on_path() == 0
    finally:
        gc.enable()


def test_a_tensor_the_framework_refuses_does_not_stop_the_pass(tmp_path):
    """A read-ahead that cannot start (NumPy has no bfloat16) is skipped; asking for that
    tensor raises Unsupported as without read-ahead, and the pass goes on."""
    import torch

    p = tmp_path / "m.safetensors"
    sd = {"a": torch.arange(1 << 18, dtype=torch.float32),
          "b": torch.ones(1 << 18, dtype=torch.bfloat16),
          "c": torch.arange(1 << 18, dtype=torch.float32) * 2}
    stsw.dump(sd, p, order="keep")
    with stsw.StreamReader(p) as r:
        assert r.keys() == ["a", "b", "c"]
        np.testing.assert_array_equal(r.to_numpy("a"), sd["a"].numpy())
        assert r._ahead.pending() == ["c"]
        with pytest.raises(stsw.Error) as e:
            r.to_numpy("b")
        assert e.value.kind == "Unsupported"
        np.testing.assert_array_equal(r.to_numpy("c"), sd["c"].numpy())
        assert torch.equal(r.to_torch("b"), sd["b"])
