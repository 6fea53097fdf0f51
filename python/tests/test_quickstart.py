"""The quick start of the issue (Python stsw 1.0's README), run verbatim."""

import os
import textwrap

import numpy as np

from conftest import official_check

QUICK_START = textwrap.dedent('''
    import numpy as np
    from stsw import StreamWriter, TensorMeta

    data1 = np.random.rand(1000, 1000).astype(np.float32)
    data2 = np.random.randint(0, 256, (500, 500, 3), dtype=np.uint8)
    metas = [
        TensorMeta("embeddings", "F32", data1.shape, 0, data1.nbytes),
        TensorMeta("image", "I8", data2.shape, 4000064, 4000064 + data2.nbytes),
    ]
    with StreamWriter.open("model.safetensors", metas, crc32=True) as writer:
        writer.write_block("embeddings", data1.tobytes())
        writer.finalize_tensor("embeddings")
        writer.write_block("image", data2.tobytes())
        writer.finalize_tensor("image")

    from stsw import StreamReader
    with StreamReader("model.safetensors", verify_crc=True) as reader:
        print(reader.keys())
        embeddings = reader.to_numpy("embeddings")
        image = reader.to_torch("image", device="cpu")

    import torch, stsw
    stsw.dump({"model.weight": torch.randn(1000, 1000), "model.bias": torch.randn(1000)},
              "checkpoint.safetensors", crc32=True)
''')


def test_quick_start_verbatim(tmp_path, capsys):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        scope: dict = {}
        exec(compile(QUICK_START, "quickstart.py", "exec"), scope)
    finally:
        os.chdir(cwd)
    assert capsys.readouterr().out.strip() == "['embeddings', 'image']"
    np.testing.assert_array_equal(scope["embeddings"], scope["data1"])
    assert scope["image"].numpy().tobytes() == scope["data2"].tobytes()
    # The official loader's checks accept both files: the 1.0 hole is gone.
    h = official_check(tmp_path / "model.safetensors")
    assert h["embeddings"]["data_offsets"] == [0, 4000000]
    assert h["image"]["data_offsets"] == [4000000, 4750000]
    assert "crc32" in h["image"]
    h = official_check(tmp_path / "checkpoint.safetensors")
    assert set(h) == {"model.weight", "model.bias"}


def test_quick_start_accepted_by_strict_cli(tmp_path, stsw_cli):
    from conftest import run_cli

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(QUICK_START, "quickstart.py", "exec"), {})
    finally:
        os.chdir(cwd)
    for f in ("model.safetensors", "checkpoint.safetensors"):
        res = run_cli(stsw_cli, "verify", "--strict", "--no-progress", str(tmp_path / f))
        assert res.returncode == 0, res.stdout + res.stderr
