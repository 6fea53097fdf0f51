"""stsw.Error: kinds, messages, the OSError/ValueError/KeyError subclasses."""

import errno
import struct

import numpy as np
import pytest

import stsw


def test_every_cpp_kind_is_known():
    assert "CrcMismatch" in stsw.ERROR_KINDS and "InvalidOffset" in stsw.ERROR_KINDS
    assert len(stsw.ERROR_KINDS) == 24
    for kind in stsw.ERROR_KINDS:
        e = stsw._errors.from_kind(kind, "msg")
        assert isinstance(e, stsw.Error) and e.kind == kind and str(e) == f"{kind}: msg"
        assert isinstance(e, OSError) == (kind in ("Io", "NoSpace"))
        assert isinstance(e, ValueError) == (kind not in ("Io", "NoSpace"))


def test_missing_file_is_io_oserror_with_errno(tmp_path):
    with pytest.raises(stsw.Error) as e:
        stsw.StreamReader(tmp_path / "missing.safetensors")
    assert e.value.kind == "Io"
    assert isinstance(e.value, OSError) and e.value.errno == errno.ENOENT
    assert "missing.safetensors" in e.value.message


def test_header_errors_have_official_kinds(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x01\x02")
    with pytest.raises(stsw.Error) as e:
        stsw.StreamReader(p)
    assert e.value.kind == "HeaderTooSmall"
    header = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}'
    p.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(stsw.Error) as e:
        stsw.StreamReader(p)
    assert e.value.kind == "TensorInvalidInfo" and str(p) in e.value.message
    assert isinstance(e.value, ValueError)


def test_crc_mismatch_names_file_and_tensor(tmp_path):
    p = tmp_path / "m.safetensors"
    stsw.dump({"w": np.arange(256, dtype=np.float32)}, p)
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    with stsw.StreamReader(p) as r:
        for call in (lambda: r.to_numpy("w"), lambda: r.get_slice("w"),
                     lambda: r.read_into("w", bytearray(1024)).result()):
            with pytest.raises(stsw.Error) as e:
                call()
            assert e.value.kind == "CrcMismatch"
            assert "'w'" in e.value.message and str(p) in e.value.message
        assert not r.verify().passed
    with stsw.StreamReader(p, verify_crc=False) as r:
        assert r.to_numpy("w")[-1] != 255.0


def test_unknown_tensor_is_a_key_error(tmp_path):
    p = tmp_path / "m.safetensors"
    stsw.dump({"w": np.zeros(2, np.float32)}, p)
    with stsw.StreamReader(p) as r:
        with pytest.raises(KeyError):
            r.meta("nope")
        with pytest.raises(stsw.Error) as e:
            r.to_torch("nope")
        assert e.value.kind == "UnknownTensor"


def test_closed_reader_and_wrong_destination(tmp_path):
    p = tmp_path / "m.safetensors"
    stsw.dump({"w": np.zeros(2, np.float32)}, p)
    r = stsw.StreamReader(p)
    with pytest.raises(stsw.Error) as e:
        r.read_into("w", bytearray(7)).result()
    assert e.value.kind == "LengthMismatch"
    with pytest.raises(BufferError):  # Python's own error for a read-only buffer
        r.read_into("w", b"readonly")
    r.close()
    with pytest.raises(stsw.Error) as e:
        r.keys()
    assert e.value.kind == "InvalidState"


def test_dump_errors(tmp_path):
    with pytest.raises(stsw.Error) as e:
        stsw.dump({"x": [1, 2]}, tmp_path / "m.safetensors")
    assert e.value.kind == "InvalidArgument"
    with pytest.raises(stsw.Error) as e:
        stsw.dump({"x": np.zeros(2, np.complex128)}, tmp_path / "m.safetensors")
    assert e.value.kind == "Unsupported"
    with pytest.raises(stsw.Error) as e:
        stsw.dump({"__metadata__": np.zeros(2)}, tmp_path / "m.safetensors")
    assert e.value.kind == "InvalidName"
    with pytest.raises(stsw.Error) as e:
        stsw.dump({"x": np.zeros(2)}, tmp_path / "no" / "dir" / "m.safetensors")
    assert e.value.kind == "Io" and isinstance(e.value, OSError)


def test_errors_pickle():
    import pickle

    e = stsw._errors.from_kind("CrcMismatch", "f: tensor 'w'")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is type(e) and back.kind == e.kind and back.message == e.message
