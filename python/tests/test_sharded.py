"""Sharded sets: dump(max_shard_size=...) and reading them through the index."""

import json

import numpy as np
import torch

import stsw
from stsw import safe_open
from conftest import official_check


def test_dump_shards_and_load_through_index(tmp_path):
    state = {f"layer{i}.w": torch.full((256,), float(i)) for i in range(5)}  # 1 KiB each
    files = stsw.dump(state, tmp_path / "model.safetensors", max_shard_size=2100)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                     "model-00003-of-00003.safetensors", "model.safetensors.index.json"]
    assert files[-1].endswith("model.safetensors.index.json") and len(files) == 4
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == 5 * 1024
    assert set(index["weight_map"]) == set(state)
    for f in names[:3]:
        official_check(tmp_path / f)
    back = stsw.load(tmp_path / "model.safetensors.index.json")
    assert set(back) == set(state)
    for k, v in state.items():
        assert torch.equal(back[k], v)
    with stsw.StreamReader(tmp_path / "model.safetensors.index.json") as r:
        assert r.sharded and len(r) == 5 and "layer3.w" in r
        assert r.index_metadata["total_size"] == str(5 * 1024)
        assert r.file_of("layer0.w").endswith("model-00001-of-00003.safetensors")
        assert r.verify().passed
    with safe_open(tmp_path / "model.safetensors.index.json", framework="np") as f:
        np.testing.assert_array_equal(f.get_tensor("layer4.w"), np.full(256, 4.0, np.float32))


def test_unsharded_when_it_fits(tmp_path):
    files = stsw.dump({"a": np.zeros(4, np.float32)}, tmp_path / "model.safetensors",
                      max_shard_size=10**9)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    assert len(files) == 1
