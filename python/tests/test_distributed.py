"""Multi-rank checkpoints (stsw.distributed): real process groups (gloo on 127.0.0.1, one
process per rank, dist_worker.py) at world sizes 4, 2 and 1, plus the one-process forms.
Each multi-process test is bounded by a timeout; together they take a few seconds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import stsw
from conftest import official_check, run_cli

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import stsw.distributed as sd  # noqa: E402

WORKER = Path(__file__).resolve().parent / "dist_worker.py"
TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_world(scenario: str, world: int, root: Path):
    port = free_port()
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(WORKER), scenario, str(r), str(world),
                               str(port), str(root)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(world)]
    out = []
    try:
        for p in procs:
            text, _ = p.communicate(timeout=TIMEOUT)
            out.append((p.returncode, text))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def files(path: Path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_world_4_2_1_save_load_reshard_and_failures(tmp_path, stsw_cli):
    out = run_world("matrix", 4, tmp_path)
    assert all(code == 0 for code, _ in out), "\n".join(
        f"=== rank {r}: exit {code}\n{text}" for r, (code, text) in enumerate(out))
    # b (2 ranks, one file) and c (1 rank, sharded) are untouched: plain loaders open them.
    c = tmp_path / "c"
    assert sorted(os.listdir(c)) == ["model-00001-of-00002.safetensors",
                                     "model-00002-of-00002.safetensors",
                                     "model.safetensors.index.json"]
    for shard in c.glob("*.safetensors"):
        header = official_check(shard)
        assert all("crc32" in v for k, v in header.items() if k != "__metadata__")
    r = run_cli(stsw_cli, "verify", str(c / "model.safetensors.index.json"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli(stsw_cli, "verify", str(tmp_path / "b" / "model.safetensors"))
    assert r.returncode == 0, r.stdout + r.stderr
    loaded = stsw.load(str(tmp_path / "b" / "model.safetensors"))
    assert loaded["emb"].shape == (24, 8) and loaded["step"].item() == 42
    assert torch.equal(loaded["emb"], stsw.load(str(c / "model.safetensors.index.json"))["emb"])
    # a was corrupted on purpose by the last step: verify names the tensor.
    r = run_cli(stsw_cli, "verify", str(tmp_path / "a" / "model.safetensors.index.json"))
    assert r.returncode != 0 and "emb" in r.stdout + r.stderr
    assert not [n for n in os.listdir(tmp_path / "a") if ".stsw-" in n]


def test_a_killed_rank_leaves_the_previous_checkpoint(tmp_path, stsw_cli):
    out = run_world("killed", 2, tmp_path)
    assert out[1][0] == 3, out[1][1]  # died mid-save
    assert out[0][0] == 0, out[0][1]  # got an error, as expected
    a = tmp_path / "a"
    index = a / "model.safetensors.index.json"
    r = run_cli(stsw_cli, "verify", str(index))
    assert r.returncode == 0, r.stdout + r.stderr
    assert stsw.load(str(index))["step"].item() == 42
    assert not [n for n in os.listdir(a) if ".stsw-" in n]


# ---- one process: no process group --------------------------------------------------------
def test_one_process_save_load_and_row_blocks(tmp_path):
    emb = torch.arange(48, dtype=torch.float32).reshape(12, 4)
    sd.save({"emb": emb, "emb2": sd.Shard(emb, (12, 4), (0, 0))}, tmp_path, durable=False)
    official_check(tmp_path / "model.safetensors")
    with pytest.raises(stsw.Error) as e:
        sd.save({"emb": sd.Shard(emb[:5], (12, 4), (0, 0))}, tmp_path)  # rows 5.. missing
    assert e.value.kind == "InvalidArgument" and "no rank holds bytes [80, 192)" in str(e.value)
    got = {"emb": sd.Shard(torch.zeros(7, 4), (12, 4), (5, 0)),
           "emb2": sd.Shard(torch.zeros(12, 2), (12, 4), (0, 2))}
    with pytest.raises(stsw.Error) as e:
        sd.load({"emb": torch.zeros(12, 4, dtype=torch.float64)}, tmp_path)
    assert e.value.kind == "InvalidArgument" and "'emb'" in str(e.value)
    sd.load(got, tmp_path)
    assert torch.equal(got["emb"].local_tensor, emb[5:])
    assert torch.equal(got["emb2"].local_tensor, emb[:, 2:])


@pytest.mark.parametrize("world", [2, 4])
def test_column_blocks_save_and_load_at_another_world_size(tmp_path, world):
    out = run_world("columns", world, tmp_path)
    assert all(code == 0 for code, _ in out), "\n".join(
        f"=== rank {r}: exit {code}\n{text}" for r, (code, text) in enumerate(out))


def test_one_process_column_block_must_tile(tmp_path):
    emb = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    with pytest.raises(stsw.Error) as e:  # columns 2.. of every row are missing
        sd.save({"emb": sd.Shard(emb[:, :2].contiguous(), (4, 4), (0, 0))}, tmp_path)
    assert e.value.kind == "InvalidArgument" and "no rank holds bytes [8, 16)" in str(e.value)
    # A block covering every column is a row block; one covering everything is the tensor.
    sd.save({"emb": sd.Shard(emb, (4, 4), (0, 0))}, tmp_path, durable=False)
    assert torch.equal(stsw.load(str(tmp_path / "model.safetensors"))["emb"], emb)


def test_one_process_loads_through_the_engine_verify_every_run(tmp_path, monkeypatch):
    monkeypatch.setattr(sd, "ENGINE_RUN", 1)  # every run read by the engine (read_batch)
    w = torch.arange(64, dtype=torch.float32).reshape(16, 4)
    sd.save({"w": w}, tmp_path, durable=False)
    got = {"w": torch.zeros(16, 4)}
    sd.load(got, tmp_path)
    assert torch.equal(got["w"], w)
    got = {"w": sd.Shard(torch.zeros(16, 2), (16, 4), (0, 2))}
    sd.load(got, tmp_path)
    assert torch.equal(got["w"].local_tensor, w[:, 2:])
    f = tmp_path / "model.safetensors"
    with stsw.StreamReader(str(f)) as r:
        at = r.file_offset("w") + 4 * 4 * 15  # row 15
    data = bytearray(f.read_bytes())
    data[at] ^= 0x40
    f.write_bytes(bytes(data))
    with pytest.raises(stsw.Error) as e:
        sd.load({"w": torch.zeros(16, 4)}, tmp_path)
    assert e.value.kind == "CrcMismatch" and "'w'" in str(e.value)


def test_block_runs_of_column_and_3d_blocks():
    from stsw.distributed import _block_runs

    s = sd.Shard(torch.zeros(3, 2), (3, 8), (0, 4))  # columns 4-5 of each row, float32
    starts, local, run = _block_runs(s, 4, "t")
    assert run == 8 and starts.tolist() == [16, 48, 80] and local.tolist() == [0, 8, 16]
    s = sd.Shard(torch.zeros(2, 1, 8), (2, 4, 8), (0, 2, 0))  # dimension-1 block of a cube
    starts, local, run = _block_runs(s, 4, "t")
    assert run == 32 and starts.tolist() == [64, 192] and local.tolist() == [0, 32]
    s = sd.Shard(torch.zeros(2, 8), (4, 8), (2, 0))  # a row block: one run
    starts, local, run = _block_runs(s, 4, "t")
    assert run == 64 and starts.tolist() == [64] and local.tolist() == [0]


def test_one_process_corruption_is_caught_for_whole_and_tiled_reads(tmp_path):
    w = torch.arange(64, dtype=torch.float32).reshape(16, 4)
    sd.save({"w": w}, tmp_path, durable=False)
    f = tmp_path / "model.safetensors"
    with stsw.StreamReader(str(f)) as r:
        at = r.file_offset("w") + 200
    data = bytearray(f.read_bytes())
    data[at] ^= 1
    f.write_bytes(bytes(data))
    with pytest.raises(stsw.Error) as e:
        sd.load({"w": torch.zeros(16, 4)}, tmp_path)
    assert e.value.kind == "CrcMismatch" and "'w'" in str(e.value)
    halves = {"w": sd.Shard(torch.zeros(8, 4), (16, 4), (8, 0))}
    sd.load(halves, tmp_path)  # half a tensor: nothing to combine, not checked
    with pytest.raises(stsw.Error):
        stsw.load(str(f))


def test_torch_namespace():
    import stsw.torch as st

    assert st.distributed.save is sd.save and st.Shard is sd.Shard


def test_save_async_snapshots_and_waits_for_the_previous(tmp_path):
    import stsw.torch as st

    w = torch.ones(256, 64)
    f1 = st.save_async({"w": w}, tmp_path / "one", durable=False)
    w.add_(1)  # after the snapshot: not in the first checkpoint
    f2 = st.save_async({"w": w}, tmp_path / "two", durable=False)
    assert f1.done()  # the second call waited for the first
    f2.result(timeout=60)
    assert torch.equal(stsw.load(str(tmp_path / "one" / "model.safetensors"))["w"], torch.ones(256, 64))
    assert torch.equal(stsw.load(str(tmp_path / "two" / "model.safetensors"))["w"], w)
    bad = st.save_async({"w": sd.Shard(w[:3], (256, 64), (0, 0))}, tmp_path / "three")
    with pytest.raises(stsw.Error):
        bad.result(timeout=60)
