"""Python stsw 1.0 files (holes, __version__) read with strict=False."""

import numpy as np
import pytest

import stsw


@pytest.mark.parametrize("name", ["out_crc0.safetensors", "out_crc1.safetensors"])
def test_python_stsw_10_files(vectors, manifest, name):
    path = vectors / "stsw-python" / name
    with pytest.raises(stsw.Error) as e:
        stsw.StreamReader(path)  # strict: the official loader's verdict
    assert isinstance(e.value, ValueError)
    with stsw.StreamReader(path, strict=False) as r:
        assert r.keys() == ["a", "b"]
        b = r.meta("b")
        assert (b.offset_begin, b.offset_end) == (64, 128)
        assert r.get_slice("a").tobytes() == bytes(range(12))
        np.testing.assert_array_equal(
            r.to_numpy("b"), np.frombuffer(bytes([1, 2, 3, 4]) * 16, dtype="<i4"))
        expected = {t["name"]: t.get("crc32") for t in manifest["stsw-python"][name]["tensors"]}
        assert {k: r.meta(k).crc32 for k in r.keys()} == expected
        report = r.verify()
        assert report.passed
        if name == "out_crc1.safetensors":
            assert report.ok == 2
    back = stsw.load(path, framework="np", strict=False)
    assert list(back) == ["a", "b"]


def test_rewrite_python_stsw_10_file_for_the_official_loader(vectors, tmp_path):
    from conftest import official_check

    src = vectors / "stsw-python" / "out_crc1.safetensors"
    with stsw.StreamReader(src, strict=False) as r:
        metas = r.tensors()  # 1.0 offsets, with the hole: accepted by the writer
        out = tmp_path / "fixed.safetensors"
        with stsw.StreamWriter.open(out, metas) as w:
            for m in metas:
                w.write_block(m.name, r.get_slice(m.name))
    official_check(out)
    with stsw.StreamReader(out) as r:
        assert r.meta("b").offset_begin == 12
