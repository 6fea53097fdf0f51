"""Files byte-identical to the C++ writer's (the stsw CLI) and to the official serializer's
(the reference golden files)."""

import json

import numpy as np
import pytest
import torch

import stsw
from conftest import bytes_seq, run_cli


def manifest_state(entry):
    """The tensors of a reference vector: the bytes 0,1,2,... per tensor, as raw arrays."""
    state = {}
    for t in entry["tensors"]:
        if t["dtype"] in ("BF16",) or t["dtype"].startswith("F8") or t["dtype"] in (
                "F4", "F6_E2M3", "F6_E3M2"):
            return None
        dt = np.dtype(stsw._dtypes.NUMPY[t["dtype"]]).newbyteorder("<")
        data = bytes.fromhex(t["data_hex"]) if "data_hex" in t else bytes_seq(t["nbytes"])
        raw = np.frombuffer(data, dtype=np.uint8)
        state[t["name"]] = raw.view(dt).reshape(t["shape"])
    return state


def test_identical_to_official_reference_files(tmp_path, vectors, manifest):
    checked = 0
    for name, entry in manifest["reference"].items():
        state = manifest_state(entry)
        if state is None:
            continue
        out = tmp_path / name
        stsw.dump(state, out, crc32=False, align=8, metadata=entry["metadata"], durable=False)
        assert out.read_bytes() == (vectors / "reference" / name).read_bytes(), name
        checked += 1
    assert checked >= 4


def test_identical_to_cpp_writer_numpy(tmp_path, stsw_cli):
    rng = np.random.default_rng(1)
    state = {
        "w": rng.standard_normal((64, 33)).astype(np.float32),
        "b": rng.standard_normal(33).astype(np.float64),
        "idx": np.arange(100, dtype=np.int64),
        "mask": rng.integers(0, 2, 17).astype(np.bool_),
        "h": rng.standard_normal((3, 3)).astype(np.float16),
        "u": np.arange(7, dtype=np.uint8),
    }
    npz = tmp_path / "in.npz"
    np.savez(npz, **state)
    cpp = tmp_path / "cpp.safetensors"
    res = run_cli(stsw_cli, "convert", "--no-progress", str(npz), str(cpp))
    assert res.returncode == 0, res.stderr
    py = tmp_path / "py.safetensors"
    stsw.dump(state, py, metadata={"format": "pt"})
    assert py.read_bytes() == cpp.read_bytes()


def test_identical_to_cpp_writer_torch(tmp_path, stsw_cli):
    state = {"emb": torch.randn(50, 8), "bias": torch.randn(8).to(torch.bfloat16),
             "steps": torch.tensor(3), "ids": torch.arange(9, dtype=torch.int32)}
    pt = tmp_path / "in.pt"
    torch.save(state, pt)
    for opts, kwargs in (([], {}), (["--no-crc32", "--align", "8"], {"crc32": False, "align": 8})):
        cpp = tmp_path / "cpp.safetensors"
        res = run_cli(stsw_cli, "convert", "--no-progress", *opts, str(pt), str(cpp))
        assert res.returncode == 0, res.stderr
        py = tmp_path / "py.safetensors"
        stsw.dump(state, py, metadata={"format": "pt"}, **kwargs)
        assert py.read_bytes() == cpp.read_bytes(), opts


def test_streamwriter_matches_dump_with_kept_order(tmp_path):
    a = np.arange(10, dtype=np.float32)
    b = np.arange(6, dtype=np.int16)
    p1 = tmp_path / "w.safetensors"
    metas = [stsw.TensorMeta("b", "I16", b.shape, 0, b.nbytes),
             stsw.TensorMeta("a", "F32", a.shape, b.nbytes, b.nbytes + a.nbytes)]
    with stsw.StreamWriter.open(p1, metas, metadata={"k": "v"}) as w:
        w.write_block("b", b)
        w.write_block("a", memoryview(a.tobytes()))
    p2 = tmp_path / "d.safetensors"
    stsw.dump({"b": b, "a": a}, p2, metadata={"k": "v"}, order="keep")
    assert p1.read_bytes() == p2.read_bytes()
    header = json.loads(p1.read_bytes()[8:8 + int.from_bytes(p1.read_bytes()[:8], "little")])
    assert list(k for k in header if k != "__metadata__") == ["b", "a"]
