"""The CUDA device path of to_torch / load (stsw/_cuda.py) on machines without a GPU (the
Debian torch is CPU-only): a clear Unsupported error naming the device, the choice between
stsw's pipeline and the host fallback, and the CPU path left unchanged. The device reads
themselves run in the C++ cuda_gpu_test on a GPU machine (perf/gpu_check.sh)."""

from __future__ import annotations

import pytest

import stsw
from stsw import _cuda, _stsw

torch = pytest.importorskip("torch")


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.safetensors"
    stsw.dump({"w": torch.arange(12, dtype=torch.float32).reshape(3, 4),
               "b": torch.ones(5, dtype=torch.bfloat16)}, path)
    return path


def test_extension_says_whether_it_was_built_with_cuda():
    assert isinstance(_stsw.cuda_built, bool)
    if _stsw.cuda_built:
        assert "CUDA runtime" in _stsw.cuda_describe()
        assert _stsw.cuda_device_count() >= 0


def test_is_cuda():
    assert _cuda.is_cuda("cuda") and _cuda.is_cuda("cuda:1") and _cuda.is_cuda(torch.device("cuda", 0))
    assert not _cuda.is_cuda("cpu") and not _cuda.is_cuda(None) and not _cuda.is_cuda("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="torch sees a GPU here")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_no_gpu_is_a_clear_error(model, device):
    with stsw.StreamReader(model) as r:
        with pytest.raises(stsw.Error) as e:
            r.to_torch("w", device=device)
    assert e.value.kind == "Unsupported"
    assert repr(device) in str(e.value) and "torch sees no CUDA device" in str(e.value)
    with pytest.raises(stsw.Error) as e:
        stsw.load(model, device=device)
    assert e.value.kind == "Unsupported" and repr(device) in str(e.value)


def test_plan_picks_stsw_or_the_host_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(_stsw, "cuda_built", True, raising=False)
    assert _cuda.plan("cuda:0") == "stsw"
    monkeypatch.setattr(_stsw, "cuda_built", False, raising=False)
    assert _cuda.plan("cuda:0") == "host"


def test_host_fallback_reads_on_the_cpu_then_moves(model, monkeypatch):
    """Built without CUDA but a GPU visible: read as for the CPU, then tensor.to(device)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(_stsw, "cuda_built", False, raising=False)
    moved = []

    def fake_to(self, *args, **kwargs):
        moved.append(str(args[0]))
        return self

    monkeypatch.setattr(torch.Tensor, "to", fake_to)
    with stsw.StreamReader(model) as r:
        t = r.to_torch("w", device="cuda:0")
    assert moved == ["cuda:0"] and torch.equal(t, torch.arange(12, dtype=torch.float32).reshape(3, 4))
    moved.clear()
    out = stsw.load(model, device="cuda")
    assert sorted(moved) == ["cuda", "cuda"] and set(out) == {"w", "b"}


def test_cpu_device_unchanged(model):
    with stsw.StreamReader(model) as r:
        assert torch.equal(r.to_torch("w", device="cpu"), torch.arange(12, dtype=torch.float32).reshape(3, 4))
    assert set(stsw.load(model, device="cpu")) == {"w", "b"}


@pytest.mark.skipif(not getattr(_stsw, "cuda_built", False), reason="stsw built without CUDA")
def test_binding_reports_no_device_as_unsupported(model):
    """The C++ entry point behind read_to_cuda, called directly: without a usable device it
    raises Unsupported with the CUDA runtime's reason (and reads nothing)."""
    if _stsw.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    with stsw.StreamReader(model) as r:
        with pytest.raises(stsw.Error) as e:
            _stsw.cuda_read(r._r, [("w", 0, 48, 0)], 0, -1, True)
    assert e.value.kind == "Unsupported" and "no usable CUDA device" in str(e.value)
