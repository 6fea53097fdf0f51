"""safe_open against what the official safetensors package documents, on the golden files."""

import numpy as np
import pytest
import torch

import stsw
from stsw import safe_open
from conftest import bytes_seq


def test_reference_files_through_safe_open(vectors, manifest):
    for name, entry in manifest["reference"].items():
        path = vectors / "reference" / name
        with safe_open(path, framework="pt", device="cpu") as f:
            assert f.keys() == sorted(t["name"] for t in entry["tensors"])
            assert f.metadata() == entry["metadata"]
            for t in entry["tensors"]:
                s = f.get_slice(t["name"])
                assert s.get_shape() == t["shape"] and s.get_dtype() == t["dtype"]
                if t["dtype"].startswith("F8") and not hasattr(torch, "float8_e5m2"):
                    with pytest.raises(stsw.Error):
                        f.get_tensor(t["name"])
                    continue
                if t["dtype"] in ("F4", "F6_E2M3", "F6_E3M2", "U16", "U32", "U64"):
                    continue
                x = f.get_tensor(t["name"])
                assert list(x.shape) == t["shape"]
                flat = x.reshape(-1)
                raw = flat.view(torch.uint8)
                expected = bytes.fromhex(t["data_hex"]) if "data_hex" in t else bytes_seq(t["nbytes"])
                assert raw.numpy().tobytes() == expected


def test_samples_values(vectors, manifest):
    for name in manifest["samples"]:
        with safe_open(vectors / "samples" / name, framework="np") as f:
            assert f.metadata() == {"test": "a"}
            for k in f.keys():
                a = f.get_tensor(k)
                if a.dtype.kind in "iuf":
                    expected = np.array([-3, -2, -1, 0, 1, 2]).astype(a.dtype)
                    np.testing.assert_array_equal(a, expected)


def test_get_slice_indexing(tmp_path):
    w = torch.arange(60, dtype=torch.float32).reshape(10, 6)
    h = torch.randn(4, 3).to(torch.bfloat16)
    p = tmp_path / "m.safetensors"
    stsw.dump({"w": w, "h": h}, p)
    with safe_open(p, framework="pt") as f:
        s = f.get_slice("w")
        assert len(s) == 10
        assert torch.equal(s[2:5], w[2:5])
        assert torch.equal(s[:, 1:3], w[:, 1:3])
        assert torch.equal(s[..., -1], w[..., -1])
        assert torch.equal(f.get_slice("h")[1:], h[1:])
        assert f.metadata() is None
        assert f.offset_keys() == ["w", "h"]  # file order: F32 before BF16
    with safe_open(p, framework="numpy") as f:
        np.testing.assert_array_equal(f.get_slice("w")[3], w[3].numpy())
        with pytest.raises(stsw.Error) as e:
            f.get_slice("h")[0]
        assert e.value.kind == "Unsupported"
        with pytest.raises(KeyError):
            f.get_tensor("nope")


def test_framework_check(tmp_path):
    p = tmp_path / "m.safetensors"
    stsw.dump({"w": np.zeros(1, np.float32)}, p)
    with pytest.raises(stsw.Error) as e:
        safe_open(p, framework="flax")
    assert e.value.kind == "Unsupported"
    with safe_open(p, "pt") as f:
        assert isinstance(f.get_tensor("w"), torch.Tensor)


def test_save_file_load_file_modules(tmp_path):
    from stsw.numpy import load_file as np_load, save_file as np_save
    from stsw.torch import load_file, save_file

    p = tmp_path / "t.safetensors"
    save_file({"w": torch.ones(2, 2)}, p, metadata={"format": "pt"})
    assert torch.equal(load_file(p)["w"], torch.ones(2, 2))
    with safe_open(p, "pt") as f:
        assert f.metadata() == {"format": "pt"}
    q = tmp_path / "n.safetensors"
    np_save({"a": np.arange(3)}, q)
    np.testing.assert_array_equal(np_load(q)["a"], np.arange(3))
