"""The stsw exception hierarchy.

Every failure of the library is a :class:`stsw.Error` with ``.kind``, the C++ ``stsw::Errc``
name (``"CrcMismatch"``, ``"InvalidOffset"``, ...), and ``.message``, the C++ message, which
names the file, the tensor and the offending value where they are known. ``str(e)`` is
``"<Kind>: <message>"``, as the C++ ``what()``.

Subclasses let ordinary ``except`` clauses work too:

* :class:`stsw.IoError` (also an ``OSError``, with ``.errno``): kinds ``Io`` and ``NoSpace``.
* :class:`stsw.UnknownTensorError` (also a ``KeyError``): kind ``UnknownTensor``.
* :class:`stsw.ValidationError` (also a ``ValueError``): every other kind.
"""

from __future__ import annotations

IO_KINDS = frozenset({"Io", "NoSpace"})


class Error(Exception):
    """Base class of every stsw error; ``kind`` is the C++ Errc name."""

    kind: str
    message: str
    errno: int | None

    def __init__(self, kind: str, message: str, errno: int = 0):
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.errno = errno or None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def __reduce__(self):
        return (from_kind, (self.kind, self.message, self.errno or 0))


class IoError(Error, OSError):
    """An operating-system failure (kinds Io, NoSpace); ``errno`` says which."""

    def __init__(self, kind: str, message: str, errno: int = 0):
        OSError.__init__(self, errno or None, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class ValidationError(Error, ValueError):
    """Bad input, a bad file or a misuse (every kind but Io, NoSpace, UnknownTensor)."""


class UnknownTensorError(ValidationError, KeyError):
    """A tensor name that is not in the file or the writer's plan."""

    def __str__(self) -> str:  # KeyError would quote the args tuple
        return f"{self.kind}: {self.message}"


def from_kind(kind: str, message: str, errno: int = 0) -> Error:
    """The exception object for an error of `kind` (used by the C++ translator too)."""
    if kind in IO_KINDS:
        return IoError(kind, message, errno)
    if kind == "UnknownTensor":
        return UnknownTensorError(kind, message, errno)
    return ValidationError(kind, message, errno)
