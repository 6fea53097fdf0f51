"""stsw.distributed.save's memory bound: tensors that need a contiguous copy (transposed
torch tensors, strided or big-endian NumPy arrays, conjugate/negative views) are copied
one at a time, when their turn to be written comes, and freed once staged, as stsw.dump
does (test_dump_memory.py): a rank saving a state dict of such tensors holds about one
extra tensor, not a second copy of its shard.

The peak is measured in a fresh interpreter (VmHWM after a /proc/self/clear_refs reset),
at world size 1 (no process group) and, in dist_worker.py's "lazy" scenario, on each of
two gloo ranks saving column blocks (many runs sharing one copy). The checkpoints are
checked byte for byte against a save of contiguous copies and through stsw's loaders;
a copy that fails fails the save and leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import stsw

torch = pytest.importorskip("torch")
pytest.importorskip("torch.distributed")

import stsw.distributed as sd  # noqa: E402
from test_distributed import run_world  # noqa: E402
from test_dump_memory import (  # noqa: E402
    assert_about_one_tensor, check_raw_bytes, make_state)


def test_save_copies_non_contiguous_tensors_one_at_a_time(tmp_path):
    assert_about_one_tensor("distributed.save",
                            "stsw.distributed.save(state, sys.argv[2], durable=False)", tmp_path)

    state = make_state()  # deterministic: the same values as the child's
    path = tmp_path / "model.safetensors"
    check_raw_bytes(path, state)
    with stsw.StreamReader(str(path)) as r:
        assert r.verify().ok


def plain(v):
    if isinstance(v, sd.Shard):
        return sd.Shard(plain(v.local_tensor), v.global_shape, v.offsets)
    if isinstance(v, torch.Tensor):
        return v.resolve_conj().resolve_neg().contiguous()
    return np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<"))


def lazy_state():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    c = torch.complex(torch.arange(6, dtype=torch.float32), torch.ones(6))
    big = torch.arange(512 * 600, dtype=torch.float32).reshape(512, 600)  # > 1 MiB: direct
    return {
        "contig": base,
        "trans": base.t(),
        "neg": base.t()._neg_view(),
        "conj": c.conj(),
        "be_strided": np.arange(40, dtype=">i2").reshape(5, 8)[:, ::2],
        "empty_t": torch.empty(0, 3).t(),
        "np_f": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        "big_t": big.t(),
        "row_shard_t": sd.Shard(big[:300].t().contiguous().t(), (300, 600), (0, 0)),
    }


@pytest.mark.parametrize("shard", [None, 400_000])
def test_save_of_lazy_copies_is_byte_identical_to_contiguous(tmp_path, shard):
    """Tensors needing a copy (and contiguous ones beside them) are saved exactly as their
    contiguous copies are, one file or sharded; stsw.load and sd.load read them back."""
    state = lazy_state()
    a, b = tmp_path / "a", tmp_path / "b"
    fa = sd.save(state, a, durable=False, max_shard_size=shard)
    fb = sd.save({k: plain(v) for k, v in state.items()}, b, durable=False,
                 max_shard_size=shard)
    assert [Path(p).name for p in fa] == [Path(p).name for p in fb]
    assert (len(fa) == 1) == (shard is None)  # sharded: several files and the index
    for pa, pb in zip(fa, fb):
        assert Path(pa).read_bytes() == Path(pb).read_bytes(), pa
    back = stsw.load(fa[-1])
    for k, v in state.items():
        v = plain(v)
        v = v.local_tensor if isinstance(v, sd.Shard) else v
        want = torch.from_numpy(v) if isinstance(v, np.ndarray) else v
        assert back[k].dtype == want.dtype and torch.equal(back[k], want), k
    got = {"big_t": torch.zeros(600, 512)}
    sd.load(got, a)
    assert torch.equal(got["big_t"], state["big_t"])


def test_error_while_copying_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    """A copy that fails (here: the second tensor's) fails the save with an stsw.Error
    naming the tensor and the cause; the checkpoint at `path` stays as it was and no
    temporary file is left behind."""
    from stsw import _dtypes

    sd.save({"old": torch.ones(3)}, tmp_path, durable=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    made = []
    real = _dtypes._torch_plain

    def failing(t):
        made.append(tuple(t.shape))
        if tuple(t.shape) == (5, 4):
            raise MemoryError("no room for the copy")
        return real(t)

    monkeypatch.setattr(_dtypes, "_torch_plain", failing)
    state = {"a": torch.ones(2, 5).t(), "b": torch.ones(4, 5).t(), "c": torch.ones(6, 5).t(),
             "d": torch.ones(3, 2).t()}
    with pytest.raises(stsw.Error) as e:
        sd.save(state, tmp_path, durable=False)
    msg = str(e.value)
    assert "no room for the copy" in msg and "'b'" in msg, msg
    assert "previous checkpoint is unchanged" in msg, msg
    # Deferred: the failing copy was made when 'b' was written, after 'a''s; 'c' and 'd'
    # (written after it) were never copied.
    assert made == [(5, 2), (5, 4)], made
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert torch.equal(stsw.load(str(tmp_path / "model.safetensors"))["old"], torch.ones(3))


def test_two_ranks_column_blocks_of_transposed_tensors(tmp_path):
    """Each of 2 gloo ranks saves column blocks of 8 transposed tensors (one run per row:
    every run of a block shares one copy): each rank's peak RSS grows by about one block,
    the checkpoint loads back exactly, and a copy failing on rank 1 fails the save on both
    ranks with the previous checkpoint left in place (dist_worker.py, "lazy")."""
    out = run_world("lazy", 2, tmp_path)
    assert all(code == 0 for code, _ in out), "\n".join(
        f"=== rank {r}: exit {code}\n{text}" for r, (code, text) in enumerate(out))
    for r, (_, text) in enumerate(out):
        print(f"rank {r}: {text.strip()}")
    assert not [n for n in os.listdir(tmp_path / "lazy") if ".stsw-" in n]
