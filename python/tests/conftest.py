"""Shared fixtures of the stsw Python tests.

Run by CTest (label `python`) as `python3 -m pytest python/tests` with PYTHONPATH=<build>/python,
STSW_VECTORS_DIR (the shared golden files) and STSW_BIN_DIR (the `stsw` CLI, used as the C++
writer to compare bytes with).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def pytest_report_header(config):
    import stsw

    return (f"stsw {stsw.__version__} from {Path(stsw.__file__).parent}, interpreter "
            f"{sys.executable}, I/O backend {stsw.backend()}")


def _vectors_dir() -> Path:
    env = os.environ.get("STSW_VECTORS_DIR")
    return Path(env) if env else REPO.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors() -> Path:
    d = _vectors_dir()
    if not (d / "MANIFEST.json").exists():
        pytest.skip(f"shared test vectors not found at {d} (set STSW_VECTORS_DIR)")
    return d


@pytest.fixture(scope="session")
def manifest(vectors) -> dict:
    return json.loads((vectors / "MANIFEST.json").read_text())


@pytest.fixture(scope="session")
def stsw_cli() -> str:
    env = os.environ.get("STSW_BIN_DIR")
    cand = Path(env) / "stsw" if env else None
    if cand is None or not cand.exists():
        found = shutil.which("stsw")
        if not found:
            pytest.skip("the stsw CLI was not found (set STSW_BIN_DIR)")
        return found
    return str(cand)


def run_cli(cli: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cli, *args], capture_output=True, text=True, check=False)


def official_check(path) -> dict:
    """What the official loader checks (FORMAT.md section 2), in pure Python: returns the
    header dict or raises AssertionError. Independent of stsw's own parser."""
    data = Path(path).read_bytes()
    assert len(data) >= 8, "HeaderTooSmall"
    (n,) = struct.unpack("<Q", data[:8])
    assert 8 + n <= len(data), "InvalidHeaderLength"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = len(data) - 8 - n
    entries = sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                     key=lambda kv: tuple(kv[1]["data_offsets"]))
    bits = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
            "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
            "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
            "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
    start = 0
    for name, info in entries:
        assert set(info) <= {"dtype", "shape", "data_offsets", "crc32"}, name
        b, e = info["data_offsets"]
        assert b == start and e >= b, f"InvalidOffset {name}"
        numel = 1
        for d in info["shape"]:
            numel *= d
        assert numel * bits[info["dtype"]] == (e - b) * 8, f"TensorInvalidInfo {name}"
        start = e
    assert start == body, "MetadataIncompleteBuffer"
    return header


def bytes_seq(n: int) -> bytes:
    return bytes(i % 256 for i in range(n))


@pytest.fixture
def python_exe() -> str:
    return sys.executable
