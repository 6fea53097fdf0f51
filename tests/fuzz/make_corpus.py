#!/usr/bin/env python3
"""Writes the header fuzzer's seed corpus (tests/fuzz/corpus/): valid files of every
shape the codec accepts and one crafted file per error it reports. Re-run after
changing it; the files are committed. Keep the total under 200 KB."""
import json
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
VECTORS = os.path.join(HERE, "..", "..", "..", "shared", "vectors")


def file_bytes(header, data_size=0, n=None):
    if isinstance(header, str):
        header = header.encode("utf-8", "surrogatepass")
    length = len(header) if n is None else n
    return struct.pack("<Q", length) + header + bytes(i & 0xFF for i in range(data_size))


def entry(name, dtype, shape, begin, end, extra=""):
    return '%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]%s}' % (
        json.dumps(name), dtype, json.dumps(shape).replace(" ", ""), begin, end, extra)


def obj(*entries):
    return "{" + ",".join(entries) + "}"


def nested(depth):
    s = ""
    for i in range(depth):
        s += "[" if i % 2 == 0 else '{"k":'
    for i in reversed(range(depth)):
        s += "]" if i % 2 == 0 else "}"
    return s


SEEDS = {
    # Valid, strict.
    "ok_empty": file_bytes("{}"),
    "ok_metadata_only": file_bytes('{"__metadata__":{"format":"pt","b":"\\u00e9"}}'),
    "ok_two": file_bytes(obj(entry("a", "F32", [2], 0, 8), entry("b", "U8", [3], 8, 11)), 11),
    "ok_any_order": file_bytes(obj(entry("b", "U8", [3], 8, 11), entry("a", "F32", [2], 0, 8)), 11),
    "ok_zero_size_shared": file_bytes(obj(entry("z0", "F32", [0], 0, 0), entry("z1", "U8", [2, 0], 0, 0),
                                          entry("s", "I32", [], 0, 4)), 4),
    "ok_whitespace": file_bytes(" \t\r\n" + obj(entry("w", "BF16", [1], 0, 2)) + "\n   ", 2),
    "ok_escaped_names": file_bytes(obj(entry('a"b\\c/\n\u00e9', "U8", [1], 0, 1),
                                       entry("", "U8", [1], 1, 2)), 2),
    "ok_escaped_metadata_key": file_bytes('{"\\u005f_metadata__":{"a":"1","a":"2"}}'),
    "ok_metadata_null": file_bytes('{"__metadata__":null}'),
    "ok_crc32": file_bytes(obj(entry("w", "U8", [4], 0, 4, ',"crc32":4294967295')), 4),
    "ok_extra_fields": file_bytes(obj(entry("w", "U8", [1], 0, 1,
                                            ',"x":[1,-2.5e-3,{"y":null}],"t":true,"n":123456789012345678901234567890')), 1),
    "ok_deep_extra": file_bytes(obj(entry("w", "U8", [1], 0, 1, ',"x":' + nested(125))), 1),
    "ok_array_entry": file_bytes('{"w":["U8",[2],[0,2]]}', 2),
    "ok_dtype_map": file_bytes('{"w":{"dtype":{"F16":null},"shape":[1],"data_offsets":[0,2]}}', 2),
    "ok_dtype_unit_map": file_bytes('{"w":{"dtype":{"F16":{}},"shape":[1],"data_offsets":[0,2]}}', 2),
    "ok_sub_byte": file_bytes(obj(entry("f4", "F4", [2], 0, 1), entry("f6", "F6_E2M3", [4], 1, 4)), 4),
    "ok_max_dim": file_bytes(obj(entry("z", "U8", [0, 18446744073709551615], 0, 0))),
    "ok_overflow_after_zero": file_bytes(obj(entry("z", "U8", [0, 4294967296, 4294967296], 0, 0))),
    "ok_padded_64": file_bytes(obj(entry("w", "F64", [1], 0, 8)) + " " * 20, 8),
    # Valid, lenient only (the Python stsw).
    "lenient_version_holes": file_bytes('{"__version__":"1.0",' + entry("a", "F32", [3], 0, 12)[0:] + "," +
                                        entry("b", "I32", [16], 64, 128, ',"crc32":1817795032') + "}" + " " * 40, 192),
    "lenient_incomplete": file_bytes('{"__incomplete__":true,' + entry("a", "U8", [4], 0, 4) + "," +
                                     entry("b", "U8", [4], 64, 68) + "}", 10),
    "lenient_incomplete_false": file_bytes('{"__incomplete__":false,' + entry("a", "U8", [4], 0, 4) + "}", 4),
    "lenient_trailing": file_bytes(obj(entry("a", "U8", [4], 0, 4)), 64),
    # Errors, one or more per kind.
    "err_too_small": b"\x05\x00\x00",
    "err_too_large": struct.pack("<Q", 100_000_001) + b"{}",
    "err_length": struct.pack("<Q", 64) + b"{}",
    "err_utf8": file_bytes(b'{"w\xff":' + entry("x", "U8", [1], 0, 1).split(":", 1)[1].encode() + b"}", 1),
    "err_utf8_padding": file_bytes(b"{}   \xc0\xaf  "),
    "err_nul_padding": file_bytes(b"{}\x00\x00\x00\x00\x00\x00"),
    "err_bom": file_bytes(b"\xef\xbb\xbf{}"),
    "err_n_zero": file_bytes(""),
    "err_missing_field": file_bytes('{"w":{"dtype":"U8","shape":[1]}}', 1),
    "err_unknown_dtype": file_bytes(obj(entry("w", "Q8", [1], 0, 1)), 1),
    "err_negative_zero": file_bytes('{"w":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}}'),
    "err_float_dim": file_bytes('{"w":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}}', 1),
    "err_big_dim": file_bytes('{"w":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}}', 1),
    "err_three_offsets": file_bytes('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}', 1),
    "err_metadata_twice": file_bytes('{"__metadata__":{},"__metadata__":null}'),
    "err_metadata_number": file_bytes('{"__metadata__":{"a":1}}'),
    "err_duplicate_field": file_bytes('{"w":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
    "err_lone_surrogate": file_bytes('{"\\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
    "err_number_range": file_bytes(obj(entry("w", "U8", [1], 0, 1, ',"x":1e400')), 1),
    "err_too_deep": file_bytes(obj(entry("w", "U8", [1], 0, 1, ',"x":' + nested(126))), 1),
    "err_trailing_garbage": file_bytes("{}x"),
    "err_hole": file_bytes(obj(entry("a", "U8", [2], 0, 2), entry("b", "U8", [2], 3, 5)), 5),
    "err_overlap": file_bytes(obj(entry("a", "U8", [4], 0, 4), entry("b", "U8", [2], 2, 4)), 4),
    "err_backwards": file_bytes(obj(entry("a", "U8", [0], 2, 1)), 2),
    "err_overflow": file_bytes(obj(entry("o", "U8", [4294967296, 4294967296, 0], 0, 0))),
    "err_misaligned": file_bytes(obj(entry("m", "F4", [3], 0, 1)), 1),
    "err_invalid_info": file_bytes(obj(entry("w", "F32", [2], 0, 4)), 4),
    "err_incomplete_buffer": file_bytes(obj(entry("w", "U8", [4], 0, 4)), 3),
    "err_duplicate_name": file_bytes(obj(entry("d", "U8", [1], 0, 1), entry("d", "U8", [1], 0, 1)), 1),
    "err_metadata_tensor": file_bytes(obj(entry("__metadata__", "U8", [1], 0, 1)), 1),
    "err_crc32_range": file_bytes(obj(entry("w", "U8", [1], 0, 1, ',"crc32":4294967296')), 1),
    "err_array_entry_short": file_bytes('{"w":["U8",[2]]}', 2),
}


# Seeds of the whole-file fuzzer (tests/fuzz/corpus_file/): real files with checksums,
# data large enough to take several 16 KiB engine chunks, and the usual breakages of
# such files (bad CRC, cut short, Python stsw holes, partial files).
def data_of(n, seed):
    return bytes((i * 131 + seed) % 251 for i in range(n))


def crc_file(tensors, align=8, pad_to=0, extra="", crc=True, metadata=None, bad_crc=()):
    """tensors: (name, dtype, shape, nbytes). Returns a complete file."""
    entries, blobs, offset = [], [], 0
    for i, (name, dtype, shape, nbytes) in enumerate(tensors):
        blob = data_of(nbytes, i + 1)
        c = zlib.crc32(blob) ^ (1 if name in bad_crc else 0)
        entries.append(entry(name, dtype, shape, offset, offset + nbytes,
                             ',"crc32":%d' % c if crc else ""))
        blobs.append(blob)
        offset += nbytes
        if pad_to:
            pad = (-offset) % pad_to
            blobs.append(bytes(pad))
            offset += pad
    head = "{" + extra
    if metadata is not None:
        head += '"__metadata__":' + json.dumps(metadata, separators=(",", ":")) + ","
    header = (head + ",".join(entries) + "}").encode()
    header += b" " * ((-(8 + len(header))) % align)
    return struct.pack("<Q", len(header)) + header + b"".join(blobs)


MIXED = [("big", "F32", [3, 4096], 49152), ("h", "BF16", [7], 14), ("s", "I64", [], 8),
         ("z", "U8", [0], 0), ("b", "BOOL", [5], 5)]

FILE_SEEDS = {
    "ok_mixed_crc": crc_file(MIXED, metadata={"format": "pt"}),
    "ok_mixed_aligned_4096": crc_file(MIXED, align=4096),
    "ok_no_crc": crc_file(MIXED[1:], crc=False),
    "ok_one_chunk_exact": crc_file([("c", "U8", [16384], 16384)]),
    "ok_chunk_plus_one": crc_file([("c", "U8", [16385], 16385), ("d", "U8", [1], 1)]),
    "ok_many_small": crc_file([("t%02d" % i, "U8", [i], i) for i in range(40)]),
    "ok_empty": crc_file([]),
    "ok_zero_sizes": crc_file([("a", "F32", [0, 3], 0), ("b", "U8", [0], 0)]),
    "mismatch_first": crc_file(MIXED, bad_crc=("big",)),
    "mismatch_last": crc_file(MIXED, bad_crc=("b",)),
    "mismatch_all": crc_file(MIXED[1:], bad_crc=tuple(t[0] for t in MIXED)),
    "lenient_python_holes": crc_file(MIXED[1:], pad_to=64, extra='"__version__":"1.0",', align=64),
    "lenient_trailing": crc_file(MIXED[1:]) + bytes(100),
    "err_cut_in_data": crc_file(MIXED)[:-1000],
    "err_cut_in_header": crc_file(MIXED)[:40],
    "err_crc_field_range": crc_file([("w", "U8", [2], 2)], crc=False).replace(b'[0,2]', b'[0,2],"crc32":-1'),
}
# Python stsw partial files: marked incomplete, cut inside and after a tensor.
_partial = crc_file(MIXED[1:], pad_to=64, extra='"__version__":"1.0","__incomplete__":true,', align=64)
FILE_SEEDS["partial_cut_mid"] = _partial[:len(_partial) - 70]
FILE_SEEDS["partial_header_only"] = _partial[:struct.unpack("<Q", _partial[:8])[0] + 8]
FILE_SEEDS["partial_whole"] = _partial


def write_file_seeds():
    out = os.path.join(HERE, "corpus_file")
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    for name, data in FILE_SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print("corpus_file: %d files, %d bytes" % (len(os.listdir(out)), total))
    assert total < 600_000


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    for sub in ("reference", "samples", "stsw-python"):
        d = os.path.join(VECTORS, sub)
        for name in sorted(os.listdir(d)):
            shutil.copyfile(os.path.join(d, name), os.path.join(OUT, "vec_%s_%s" % (sub, name)))
            os.chmod(os.path.join(OUT, "vec_%s_%s" % (sub, name)), 0o644)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("%d files, %d bytes" % (len(os.listdir(OUT)), total))
    assert total < 200_000
    write_file_seeds()


if __name__ == "__main__":
    main()
