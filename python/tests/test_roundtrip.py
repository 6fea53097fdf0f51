"""Every dtype through NumPy and torch: dump, load, to_numpy, to_torch, raw views."""

import numpy as np
import pytest
import torch

import stsw

NUMPY_DTYPES = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16,
    "F16": np.float16, "I32": np.int32, "U32": np.uint32, "F32": np.float32,
    "C64": np.complex64, "F64": np.float64, "I64": np.int64, "U64": np.uint64,
}
TORCH_DTYPES = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16,
    "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32, "F32": torch.float32,
    "C64": torch.complex64, "F64": torch.float64, "I64": torch.int64,
}
NO_NUMPY = ["BF16", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"]
PACKED = {"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}


def sample(np_dtype, shape=(3, 5)):
    rng = np.random.default_rng(7)
    if np_dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(np_dtype, np.complexfloating):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np_dtype)
    if np.issubdtype(np_dtype, np.floating):
        return rng.standard_normal(shape).astype(np_dtype)
    info = np.iinfo(np_dtype)
    return rng.integers(info.min, info.max, shape, dtype=np_dtype, endpoint=True)


@pytest.mark.parametrize("dtype", sorted(NUMPY_DTYPES))
def test_numpy_round_trip(tmp_path, dtype):
    a = sample(NUMPY_DTYPES[dtype])
    scalar = np.asarray(a.flat[0])  # rank 0
    empty = a[:0]
    path = tmp_path / "m.safetensors"
    stsw.dump({"a": a, "s": scalar, "e": empty, "t": a.T}, path)
    back = stsw.load(path, framework="np")
    for k, v in {"a": a, "s": scalar, "e": empty, "t": a.T}.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
    with stsw.StreamReader(path) as r:
        assert r.meta("a").dtype == dtype
        np.testing.assert_array_equal(r.to_numpy("a"), a)
        view = r.to_numpy("a", copy=False)
        assert not view.flags.writeable
        np.testing.assert_array_equal(view, a)
        np.testing.assert_array_equal(r.to_numpy("s"), scalar)


@pytest.mark.parametrize("dtype", sorted(TORCH_DTYPES))
def test_torch_round_trip(tmp_path, dtype):
    tdt = TORCH_DTYPES[dtype]
    if tdt == torch.bool:
        t = torch.rand(4, 6) > 0.5
    elif tdt.is_floating_point or tdt.is_complex:
        t = torch.randn(4, 6, dtype=tdt)
    else:
        t = torch.randint(-100 if tdt != torch.uint8 else 0, 100, (4, 6), dtype=tdt)
    state = {"w": t, "scalar": t[0, 0].clone(), "noncontig": t.t(), "empty": t[:0]}
    path = tmp_path / "m.safetensors"
    stsw.dump(state, path)
    back = stsw.load(path)
    for k, v in state.items():
        assert back[k].dtype == v.dtype and tuple(back[k].shape) == tuple(v.shape)
        assert torch.equal(back[k], v)
    with stsw.StreamReader(path) as r:
        assert r.meta("w").dtype == dtype
        assert torch.equal(r.to_torch("w"), t)


@pytest.mark.parametrize("dtype", NO_NUMPY)
def test_numpy_lacks_dtype_clear_error_or_raw(tmp_path, dtype):
    raw = np.arange(12, dtype=np.uint8 if dtype != "BF16" else np.uint16).reshape(3, 4)
    path = tmp_path / "m.safetensors"
    with stsw.StreamWriter.open(path, [stsw.TensorMeta("x", dtype, (3, 4), 0, raw.nbytes)]) as w:
        w.write_block("x", raw)
    with stsw.StreamReader(path) as r:
        with pytest.raises(stsw.Error) as e:
            r.to_numpy("x")
        assert e.value.kind == "Unsupported" and "to_torch" in str(e.value)
        got = r.to_numpy("x", raw=True)
        assert got.dtype == raw.dtype and got.shape == (3, 4)
        np.testing.assert_array_equal(got, raw)
        if dtype == "BF16":
            t = r.to_torch("x")
            assert t.dtype == torch.bfloat16
            assert torch.equal(t.view(torch.int16), torch.from_numpy(raw.view(np.int16)))
        elif not hasattr(torch, "float8_e5m2"):
            with pytest.raises(stsw.Error) as e:
                r.to_torch("x")
            assert e.value.kind == "Unsupported" and torch.__version__ in str(e.value)
    with pytest.raises(stsw.Error) as e:
        stsw.load(path, framework="np")
    assert e.value.kind == "Unsupported"


@pytest.mark.parametrize("dtype", sorted(PACKED))
def test_packed_dtypes_raw_bytes(tmp_path, dtype):
    n = 8  # 8 elements of 4 or 6 bits: whole bytes
    nbytes = n * PACKED[dtype] // 8
    data = bytes(range(nbytes))
    path = tmp_path / "m.safetensors"
    with stsw.StreamWriter.open(path, [stsw.TensorMeta("x", dtype, (n,), 0, nbytes)]) as w:
        w.write_block("x", data)
    with stsw.StreamReader(path) as r:
        with pytest.raises(stsw.Error, match="to_torch"):
            r.to_numpy("x")
        assert r.to_numpy("x", raw=True).tobytes() == data
        assert bytes(r.get_slice("x")) == data
        with pytest.raises(stsw.Error) as e:
            r.to_torch("x")
        assert e.value.kind == "Unsupported"


@pytest.mark.parametrize("dtype", ["U16", "U32", "U64"])
def test_torch_without_unsigned_types(tmp_path, dtype):
    if hasattr(torch, "uint16"):
        pytest.skip("this torch has unsigned 16/32/64-bit types")
    a = sample(NUMPY_DTYPES[dtype])
    path = tmp_path / "m.safetensors"
    stsw.dump({"u": a}, path)
    with stsw.StreamReader(path) as r:
        with pytest.raises(stsw.Error) as e:
            r.to_torch("u")
        assert e.value.kind == "Unsupported"
        np.testing.assert_array_equal(r.to_numpy("u"), a)


def test_shared_storage_stored_per_name(tmp_path):
    base = torch.arange(20, dtype=torch.float32)
    state = {"a": base, "b": base[5:8], "tied": base}
    path = tmp_path / "m.safetensors"
    stsw.dump(state, path)
    back = stsw.load(path)
    assert torch.equal(back["b"], torch.tensor([5.0, 6.0, 7.0]))
    assert torch.equal(back["tied"], base) and torch.equal(back["a"], base)
    with stsw.StreamReader(path) as r:
        assert r.meta("b").nbytes == 12  # the view's bytes, not its storage's


def test_requires_grad_and_big_endian(tmp_path):
    t = torch.randn(3, requires_grad=True)
    be = np.arange(4, dtype=">i4")
    path = tmp_path / "m.safetensors"
    stsw.dump({"t": t, "be": be}, path)
    back = stsw.load(path, framework="np")
    np.testing.assert_array_equal(back["be"], np.arange(4, dtype="<i4"))
    np.testing.assert_array_equal(back["t"], t.detach().numpy())


def test_load_device_and_framework_errors(tmp_path):
    path = tmp_path / "m.safetensors"
    stsw.dump({"x": np.ones(2, np.float32)}, path)
    with pytest.raises(stsw.Error) as e:
        stsw.load(path, framework="tf")
    assert e.value.kind == "Unsupported"
    assert torch.equal(stsw.load(path, device="cpu")["x"], torch.ones(2))
