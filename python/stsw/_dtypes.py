"""Dtype tables and byte views shared by the writer, the reader, dump and load.

NumPy has no bfloat16, float8, float4 or float6: ``to_numpy`` refuses them (kind
``Unsupported``, naming ``to_torch``) unless ``raw=True``, which returns the stored bits:
``uint16`` for BF16, ``uint8`` for the F8 kinds (both with the tensor's shape) and a flat
``uint8`` array of the packed bytes for F4/F6. torch has the dtypes its version provides
(1.13: no float8 and no uint16/32/64); the others are refused with kind ``Unsupported``.
"""

from __future__ import annotations

from ._errors import from_kind

# safetensors dtype -> NumPy dtype name (where NumPy has the type).
NUMPY = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
    "F16": "float16", "I32": "int32", "U32": "uint32", "F32": "float32",
    "C64": "complex64", "F64": "float64", "I64": "int64", "U64": "uint64",
}
# The raw bit containers of the dtypes NumPy lacks (to_numpy(raw=True)).
NUMPY_RAW = {
    "BF16": "uint16", "F8_E5M2": "uint8", "F8_E4M3": "uint8", "F8_E8M0": "uint8",
    "F8_E4M3FNUZ": "uint8", "F8_E5M2FNUZ": "uint8",
}
PACKED = frozenset({"F4", "F6_E2M3", "F6_E3M2"})  # sub-byte: only the packed bytes
# safetensors dtype -> torch attribute name (present or not, depending on the version).
TORCH = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
    "F16": "float16", "BF16": "bfloat16", "I32": "int32", "U32": "uint32",
    "F32": "float32", "C64": "complex64", "F64": "float64", "I64": "int64", "U64": "uint64",
    "F8_E5M2": "float8_e5m2", "F8_E4M3": "float8_e4m3fn", "F8_E8M0": "float8_e8m0fnu",
    "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz",
}
BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8,
    "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64,
    "I64": 64, "U64": 64,
}


def error(kind: str, message: str):
    return from_kind(kind, message)


def numpy_dtype(dtype: str, name: str, raw: bool = False):
    """The NumPy dtype holding tensor `name` of safetensors `dtype` (see the module doc)."""
    import numpy as np

    if dtype in NUMPY:
        return np.dtype(NUMPY[dtype]).newbyteorder("<")
    if raw and dtype in NUMPY_RAW:
        return np.dtype(NUMPY_RAW[dtype]).newbyteorder("<")
    if raw and dtype in PACKED:
        return np.dtype("uint8")
    raise error("Unsupported", f"tensor '{name}': NumPy has no {dtype} type; use to_torch() "
                "(framework='pt'), or to_numpy(name, raw=True) for the stored bits")


def torch_dtype(dtype: str, name: str):
    import torch

    attr = TORCH.get(dtype)
    t = getattr(torch, attr, None) if attr else None
    if t is None:
        raise error("Unsupported", f"tensor '{name}': torch {torch.__version__} has no {dtype} "
                    "type; use to_numpy(name, raw=True) for the stored bits")
    return t


def dtype_of_numpy(array, name: str) -> str:
    kind_size = (array.dtype.kind, array.dtype.itemsize)
    table = {("b", 1): "BOOL", ("u", 1): "U8", ("i", 1): "I8", ("i", 2): "I16",
             ("u", 2): "U16", ("f", 2): "F16", ("i", 4): "I32", ("u", 4): "U32",
             ("f", 4): "F32", ("c", 8): "C64", ("f", 8): "F64", ("i", 8): "I64",
             ("u", 8): "U64"}
    if kind_size not in table:
        raise error("Unsupported", f"tensor '{name}': NumPy dtype {array.dtype} has no "
                    "safetensors equivalent")
    return table[kind_size]


def dtype_of_torch(tensor, name: str) -> str:
    import torch

    for st, attr in TORCH.items():
        if getattr(torch, attr, None) == tensor.dtype:
            return st
    raise error("Unsupported", f"tensor '{name}': torch dtype {tensor.dtype} has no "
                "safetensors equivalent")


def is_torch(obj) -> bool:
    mod = type(obj).__module__
    return mod.startswith("torch") and hasattr(obj, "data_ptr")


def torch_bytes(tensor):
    """A flat uint8 NumPy view sharing `tensor`'s memory (contiguous, on the CPU)."""
    import torch

    flat = tensor.reshape(-1)
    if flat.dtype != torch.uint8:
        flat = flat.view(torch.uint8)
    return flat.numpy()


def writable_bytes(obj):
    """A writable buffer over `obj`'s memory: torch tensors through a NumPy view."""
    if is_torch(obj):
        if obj.device.type != "cpu" or not obj.is_contiguous():
            raise error("InvalidArgument", "read_into: a torch tensor destination must be a "
                        "contiguous CPU tensor")
        return torch_bytes(obj)
    return obj


def source_of(obj, name: str, defer: bool = False):
    """(dtype, shape, data) of a NumPy array or torch tensor to be written.

    Contiguous CPU little-endian data is passed through without a copy; non-contiguous
    arrays, tensors on other devices (or with a conjugate/negative bit) and big-endian
    arrays are made contiguous CPU little-endian (one copy, unavoidable). That copy is made
    here, or, with `defer`, `data` is a function that makes it when called (stsw.dump calls
    it just before the tensor is written and drops it once written: one copy alive at a
    time instead of all of them)."""
    if is_torch(obj):
        dtype = dtype_of_torch(obj, name)
        t = obj.detach()
        shape = tuple(int(d) for d in t.shape)
        if (t.device.type == "cpu" and not t.is_conj() and not t.is_neg()
                and t.is_contiguous()):
            return dtype, shape, torch_bytes(t)
        make = lambda: torch_bytes(_torch_plain(t))  # noqa: E731
        return dtype, shape, make if defer else make()
    import numpy as np

    if not isinstance(obj, np.ndarray):
        raise error("InvalidArgument", f"tensor '{name}': expected a NumPy array or a torch "
                    f"tensor, not {type(obj).__name__}")
    dtype = dtype_of_numpy(obj, name)
    shape = tuple(int(d) for d in obj.shape)
    big = obj.dtype.byteorder == ">" or (obj.dtype.byteorder == "=" and not np.little_endian)
    if not big and obj.flags.c_contiguous:
        return dtype, shape, obj
    # One copy, contiguous and little-endian at once. (np.ascontiguousarray would make a
    # 0-d array 1-d: the shape above is the one written.)
    make = lambda: np.ascontiguousarray(obj, dtype=obj.dtype.newbyteorder("<"))  # noqa: E731
    return dtype, shape, make if defer else make()


def _torch_plain(t):
    """`t` (detached) as a contiguous CPU tensor without conjugate/negative bits."""
    if t.device.type != "cpu":
        t = t.cpu()
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    return t.contiguous()
