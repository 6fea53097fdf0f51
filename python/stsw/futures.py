"""ReadFuture: the result of StreamReader.read_into.

A ReadFuture completes when the engine has filled the destination (and checked the
tensor's CRC when the reader verifies). ``result()`` waits with the GIL released and
returns the destination, or raises the read's :class:`stsw.Error`. ``add_done_callback(fn)``
runs ``fn(future)`` once it completes: at once on the calling thread when it already has,
otherwise on an stsw engine thread (holding the GIL), so callbacks must be quick and must
not wait for other reads. ``await future`` works in asyncio: completion is handed to the
awaiting loop with ``call_soon_threadsafe``.

The destination must not be used until the future is done; the future keeps it (and its
buffer export) alive until then, and dropping a pending future waits for its read.
"""

from __future__ import annotations

import atexit
import weakref

from ._errors import Error

_pending: "weakref.WeakSet[ReadFuture]" = weakref.WeakSet()


class ReadFuture:
    __slots__ = ("_op", "_out", "__weakref__")

    def __init__(self, op, out):
        self._op = op
        self._out = out  # what the caller passed (op.out may be a byte view of it)
        if not op.done():
            _pending.add(self)

    def done(self) -> bool:
        return self._op.done()

    def running(self) -> bool:
        return not self._op.done()

    def cancelled(self) -> bool:
        return False

    def cancel(self) -> bool:
        """Reads cannot be cancelled once submitted: always False."""
        return False

    def result(self, timeout: float | None = None):
        """The destination object, once filled; raises stsw.Error (or TimeoutError)."""
        self._op.result(timeout)
        return self._out

    def exception(self, timeout: float | None = None):
        try:
            self._op.result(timeout)
        except Error as e:
            return e
        return None

    def add_done_callback(self, fn) -> None:
        self._op.add_done_callback(lambda: fn(self))

    def __await__(self):
        import asyncio

        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def settle(_):
            if waiter.cancelled():
                return
            exc = self.exception(0)
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(self._out)

        def on_done(_):
            try:
                loop.call_soon_threadsafe(settle, None)
            except RuntimeError:  # the loop was closed meanwhile: nobody awaits any more
                pass

        self.add_done_callback(on_done)
        return (yield from waiter.__await__())

    def __repr__(self) -> str:
        return f"<stsw.ReadFuture {'done' if self.done() else 'pending'}>"


@atexit.register
def _wait_pending() -> None:
    # Reads still in flight at exit finish before the interpreter goes away, so no engine
    # thread runs a Python callback during finalization.
    for f in list(_pending):
        f._op.wait()
