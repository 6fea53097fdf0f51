"""Read-ahead for StreamReader.to_torch / to_numpy called tensor after tensor.

Why: ``{k: r.to_torch(k) for k in r.keys()}`` asks for one tensor at a time, so each read
drains the engine's queue and the device idles while the next tensor is allocated and its
read submitted (measured: to_torch alone about half the rate of ``stsw.load``, which keeps
every read in flight). When the calls walk the file in order, the reader starts the next
tensors' reads (into new tensors/arrays, allocated as the calls would) before the caller
asks for them, so their I/O overlaps the current wait.

Contract:
* Only a sequential pass reads ahead: a request for the tensor right after the previous
  request (file order, ``keys()``), or for the first tensor. Any other request drops what
  was read ahead (waiting for those reads first: a destination is never freed while the
  engine writes into it) and reads just what was asked.
* Memory: at most ``budget`` bytes of tensors read ahead and not yet handed out (a tensor
  larger than the budget is never read ahead), and at most `MAX_TENSORS` of them. They
  are dropped on ``close()`` and by a non-sequential request.
* A read-ahead that fails (e.g. CrcMismatch) raises when, and only when, its tensor is
  asked for, with the same stsw.Error a direct read raises; a read-ahead never asked for
  is waited for and dropped silently (its bytes were never handed out).
* Thread safety: one lock guards the table; nothing waits while holding it. Two threads
  asking for one tensor at once each get a correct copy.
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable, Dict, List, Optional, Tuple

MAX_TENSORS = 8
DEFAULT_BUDGET = 256 << 20

# (framework, destination object, its pending _stsw.ReadOp)
Entry = Tuple[str, object, object]


class ReadAhead:
    def __init__(self, reader, keys: List[str], budget: int):
        # Weakly: a reader nobody holds is freed (and its file closed) at once, as before.
        # reader._start_read(name, framework) -> (destination, ReadOp), read submitted;
        # reader._nbytes(name) -> the tensor's size.
        self._reader = weakref.ref(reader)
        self._keys = keys
        self._index = {k: i for i, k in enumerate(keys)}
        self._budget = max(0, int(budget))
        self._lock = threading.Lock()
        self._ahead: Dict[str, Entry] = {}
        self._bytes = 0
        self._expect = 0  # the index a sequential pass asks for next

    def get(self, name: str, framework: str,
            own: Callable[[], Tuple[object, object]]) -> Tuple[object, object]:
        """(destination, ReadOp) of `name`: its read-ahead when there is one for
        `framework`, else own() (which allocates and submits the read). On a sequential pass
        the next tensors' reads are submitted after it; any other request drops the rest."""
        i = self._index.get(name) if self._budget else None
        if i is None:
            return own()
        with self._lock:
            sequential = i == self._expect or i == 0
            self._expect = i + 1
            entry = self._ahead.pop(name, None)
            if entry is not None:
                self._bytes -= self._nbytes(name)
            stale: List[Entry] = []
            if not sequential:
                stale = list(self._ahead.values())
                self._ahead.clear()
                self._bytes = 0
            wanted = self._plan(i) if sequential else []
        if entry is not None and entry[0] != framework:
            stale.append(entry)
            entry = None
        _settle(stale)
        try:
            got = own() if entry is None else (entry[1], entry[2])
        except BaseException:
            self._release(wanted)
            raise
        self._submit(wanted, framework)
        return got

    def _nbytes(self, name: str) -> int:
        return self._reader()._nbytes(name)

    def _start(self, name: str, framework: str) -> Tuple[object, object]:
        return self._reader()._start_read(name, framework)

    def _plan(self, i: int) -> List[str]:
        """Names after index `i` to read ahead now (reserved in the table's byte count)."""
        wanted = []
        for k in self._keys[i + 1:i + 1 + MAX_TENSORS]:
            if len(self._ahead) + len(wanted) >= MAX_TENSORS:
                break
            if k in self._ahead:
                continue
            n = self._nbytes(k)
            if self._bytes + n > self._budget:
                break
            self._bytes += n
            wanted.append(k)
        return wanted

    def _submit(self, names: List[str], framework: str) -> None:
        for k in names:
            try:
                dst, op = self._start(k, framework)
            except Exception:  # noqa: BLE001 - not started: the direct read will report it
                self._release([k])
                continue
            with self._lock:
                if k in self._ahead:  # another thread read it ahead meanwhile
                    self._bytes -= self._nbytes(k)
                    late = (framework, dst, op)
                else:
                    self._ahead[k] = (framework, dst, op)
                    late = None
            if late is not None:
                _settle([late])

    def _release(self, names: List[str]) -> None:
        with self._lock:
            self._bytes -= sum(self._nbytes(k) for k in names)

    def drop(self) -> None:
        """Waits for and forgets every read-ahead (close())."""
        with self._lock:
            stale = list(self._ahead.values())
            self._ahead.clear()
            self._bytes = 0
        _settle(stale)

    def pending(self) -> List[str]:
        """Names read ahead and not handed out (for tests and diagnostics)."""
        with self._lock:
            return list(self._ahead)


def _settle(entries: List[Entry]) -> None:
    """Waits for reads nobody will use, so their destinations may be freed."""
    for _, _, op in entries:
        op.wait()
