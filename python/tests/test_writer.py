"""StreamWriter: the 1.0 layout normalisation, context-manager abort, buffers, stats."""

import numpy as np
import pytest
import torch

import stsw
from conftest import official_check


def two_metas(hole=64):
    a = np.arange(16, dtype=np.float32)  # 64 bytes
    b = np.arange(10, dtype=np.int16)  # 20 bytes
    metas = [stsw.TensorMeta("a", "F32", a.shape, 0, a.nbytes),
             stsw.TensorMeta("b", "I16", b.shape, a.nbytes + hole, a.nbytes + hole + b.nbytes)]
    return a, b, metas


def test_holes_of_python_stsw_10_are_laid_out_contiguously(tmp_path):
    a, b, metas = two_metas(hole=64)
    path = tmp_path / "m.safetensors"
    with stsw.StreamWriter.open(path, metas) as w:
        w.write_block("a", a)
        w.finalize_tensor("a")
        w.write_block("b", b)
        planned = w.tensors()
    assert [(m.offset_begin, m.offset_end) for m in planned] == [(0, 64), (64, 84)]
    done = w.tensors()
    assert all(m.crc32 is not None for m in done)
    official_check(path)
    with stsw.StreamReader(path) as r:
        assert (r.meta("b").offset_begin, r.meta("b").offset_end) == (64, 84)
        np.testing.assert_array_equal(r.to_numpy("b"), b)


def test_hole_limit_is_max_64_and_align(tmp_path):
    a, b, metas = two_metas(hole=65)
    with pytest.raises(stsw.Error) as e:
        stsw.StreamWriter.open(tmp_path / "m.safetensors", metas)
    assert e.value.kind == "InvalidOffset" and "'b'" in e.value.message
    w = stsw.StreamWriter.open(tmp_path / "m.safetensors", metas, align=128)
    w.abort()


@pytest.mark.parametrize("begins", [(0, 32), (64, 0)])
def test_overlap_or_out_of_order_is_an_error(tmp_path, begins):
    metas = [stsw.TensorMeta("a", "F32", (16,), begins[0], begins[0] + 64),
             stsw.TensorMeta("b", "F32", (16,), begins[1], begins[1] + 64)]
    with pytest.raises(stsw.Error) as e:
        stsw.StreamWriter.open(tmp_path / "m.safetensors", metas)
    assert e.value.kind == "InvalidOffset"
    assert isinstance(e.value, ValueError)
    assert not (tmp_path / "m.safetensors").exists()


def test_exception_in_with_block_aborts_and_leaves_path_untouched(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"previous contents")
    a, b, metas = two_metas()
    with pytest.raises(RuntimeError):
        with stsw.StreamWriter.open(path, metas) as w:
            w.write_block("a", a)
            raise RuntimeError("boom")
    assert path.read_bytes() == b"previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_incomplete_tensor_at_close_aborts(tmp_path):
    path = tmp_path / "m.safetensors"
    a, b, metas = two_metas()
    with pytest.raises(stsw.Error) as e:
        with stsw.StreamWriter.open(path, metas) as w:
            w.write_block("a", a)
    assert e.value.kind == "LengthMismatch"
    assert list(tmp_path.iterdir()) == []


def test_write_block_accepts_buffers_and_torch(tmp_path):
    t = torch.arange(16, dtype=torch.float32)
    metas = [stsw.TensorMeta("x", "F32", (16,), 0, 64), stsw.TensorMeta("y", "BF16", (4,), 64, 72),
             stsw.TensorMeta("z", "U8", (6,), 72, 78)]
    path = tmp_path / "m.safetensors"
    y = torch.randn(4).to(torch.bfloat16)
    with stsw.StreamWriter.open(path, metas, crc32=False) as w:
        w.write_block("x", t[:8])
        w.write_block("x", t[8:].numpy())
        w.write_block("y", y)
        w.write_block("z", bytearray(b"ab"))
        w.write_block("z", memoryview(b"xxcdef")[2:])
        s = w.stats()
        assert s.bytes_total == 78 and s.bytes_staged == 78
    back = stsw.load(path)
    assert torch.equal(back["x"], t) and torch.equal(back["y"], y)
    assert back["z"].numpy().tobytes() == b"abcdef"
    with stsw.StreamReader(path) as r:
        assert r.meta("x").crc32 is None


def test_writer_usage_errors_by_kind(tmp_path):
    a, b, metas = two_metas(hole=0)
    path = tmp_path / "m.safetensors"
    w = stsw.StreamWriter.open(path, metas)
    with pytest.raises(stsw.Error) as e:
        w.write_block("b", b)
    assert e.value.kind == "TensorOrder"
    with pytest.raises(stsw.Error) as e:
        w.write_block("nope", b)
    assert e.value.kind == "UnknownTensor" and isinstance(e.value, KeyError)
    with pytest.raises(stsw.Error) as e:
        w.write_block("a", np.zeros(17, np.float32))
    assert e.value.kind == "LengthMismatch"
    with pytest.raises(stsw.Error) as e:
        w.finalize_tensor("a")
    assert e.value.kind == "LengthMismatch"
    w.abort()
    with pytest.raises(stsw.Error) as e:
        w.write_block("a", a)
    assert e.value.kind == "InvalidState"
    assert not path.exists()


def test_meta_validation(tmp_path):
    with pytest.raises(stsw.Error) as e:
        stsw.TensorMeta("x", "F33", (1,), 0, 4)
    assert e.value.kind == "TensorInvalidInfo"
    with pytest.raises(stsw.Error) as e:
        stsw.TensorMeta("x", "F32", (1,), 8, 4)
    assert e.value.kind == "InvalidOffset"
    m = stsw.TensorMeta("x", "F32", [2, 3], 0, 24)
    assert m.nbytes == 24 and m.shape == (2, 3) and m.crc32 is None
    with pytest.raises(stsw.Error) as e:  # size differs from shape x dtype
        stsw.StreamWriter.open(tmp_path / "m.safetensors", [stsw.TensorMeta("x", "F32", (2,), 0, 4)])
    assert e.value.kind == "TensorInvalidInfo"
    with pytest.raises(stsw.Error) as e:
        stsw.StreamWriter.open(tmp_path / "m.safetensors", [m], metadata={"k": 1})
    assert e.value.kind == "InvalidArgument"
    with pytest.raises(stsw.Error) as e:
        stsw.StreamWriter.open(tmp_path / "m.safetensors",
                               [m, stsw.TensorMeta("x", "F32", [2, 3], 24, 48)])
    assert e.value.kind == "DuplicateName"
