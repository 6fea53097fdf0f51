"""read_into futures (result/done/callbacks/asyncio) and the GIL released during I/O."""

import asyncio
import threading
import time

import numpy as np
import pytest
import torch

import stsw


@pytest.fixture
def model(tmp_path):
    p = tmp_path / "m.safetensors"
    state = {f"t{i}": np.full(1 << 16, i, np.float32) for i in range(8)}
    stsw.dump(state, p)
    return p, state


def test_read_into_future(model):
    p, state = model
    with stsw.StreamReader(p) as r:
        out = np.empty(1 << 16, np.float32)
        f = r.read_into("t3", out)
        assert f.result(timeout=30) is out
        assert f.done() and f.exception() is None
        np.testing.assert_array_equal(out, state["t3"])
        seen = []
        f.add_done_callback(lambda fut: seen.append(fut))  # already done: runs now
        assert seen == [f]
        t = torch.empty(1 << 16)
        assert r.read_into("t5", t).result() is t
        assert torch.equal(t, torch.from_numpy(state["t5"]))
        bad = r.read_into("t1", bytearray(3))
        assert isinstance(bad.exception(), stsw.Error) and bad.exception().kind == "LengthMismatch"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_callbacks_run_on_completion(model):
    p, state = model
    with stsw.StreamReader(p) as r:
        done = threading.Event()
        results = {}
        outs = {k: np.empty(1 << 16, np.float32) for k in state}
        futs = []
        for k in state:
            f = r.read_into(k, outs[k])
            f.add_done_callback(lambda fut, k=k: results.setdefault(k, fut.exception()))
            f.add_done_callback(lambda fut: 1 / 0)  # reported as unraisable, harmless
            futs.append(f)
        for f in futs:
            f.result()
        deadline = time.time() + 30
        while len(results) < len(state) and time.time() < deadline:
            time.sleep(0.01)
        done.set()
        assert results == {k: None for k in state}
        for k in state:
            np.testing.assert_array_equal(outs[k], state[k])


def test_await_in_asyncio(model):
    p, state = model

    async def main():
        with stsw.StreamReader(p) as r:
            outs = [np.empty(1 << 16, np.float32) for _ in state]
            got = await asyncio.gather(*(r.read_into(k, o) for k, o in zip(state, outs)))
            for g, o, k in zip(got, outs, state):
                assert g is o
                np.testing.assert_array_equal(o, state[k])
            with pytest.raises(stsw.Error) as e:
                await r.read_into("t0", bytearray(1))
            assert e.value.kind == "LengthMismatch"

    asyncio.run(main())


def test_dropping_a_pending_future_keeps_the_destination_safe(model):
    p, state = model
    with stsw.StreamReader(p) as r:
        for _ in range(5):
            r.read_into("t2", np.empty(1 << 16, np.float32))  # dropped at once


def max_stall_while(op):
    """Runs op() on this thread while a counting thread loops; returns op's duration and
    the counter's longest pause within it (pauses clipped to op's start and end: time
    before or after the call does not count)."""
    stop = threading.Event()
    pauses = []  # (from, to) of each pause of the counter over 0.2 ms

    def count():
        last = time.perf_counter()
        while not stop.is_set():
            now = time.perf_counter()
            if now - last > 2e-4:
                pauses.append((last, now))
            last = now
        # The pause that ends with the stop: a call holding the GIL to its end keeps the
        # counter from ticking until after it, and the loop may then see the stop first.
        pauses.append((last, time.perf_counter()))

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.02)
    start = time.perf_counter()
    op()
    end = time.perf_counter()
    stop.set()
    t.join()
    stall = max((min(b, end) - max(a, start) for a, b in pauses), default=0.0)
    return end - start, max(stall, 0.0)


def gil_probe(what, data, path):
    """(op, after) for test_gil_released_during_io: op() is the one C++ call measured, over
    `data` (written to `path` first where the call reads); after() closes what op left
    open. The writer's write_block (which waits for the engine's writes while the staging
    buffers are full) is measured alone: measured together with open and a durable close,
    a long fdatasync would hide a write_block that kept the GIL. (A close alone is too
    short to tell: 11 ms after 256 MiB, the data being written with O_DIRECT.)"""
    meta = [stsw.TensorMeta("x", "F32", data.shape, 0, data.nbytes)]
    if what == "dump":
        return lambda: stsw.dump({"x": data}, path, durable=True), lambda: None
    if what == "writer":
        w = stsw.StreamWriter.open(path, meta, durable=False)
        return lambda: w.write_block("x", data), w.close
    with stsw.StreamReader(path) as r:
        on_file = r.meta("x").nbytes if "x" in r else None
    if on_file != data.nbytes:
        stsw.dump({"x": data}, path, durable=False)
    if what == "load":
        return lambda: stsw.load(path, framework="np"), lambda: None
    assert what == "to_numpy"
    r = stsw.StreamReader(path)
    return lambda: r.to_numpy("x"), r.close


def measure_gil(what, data, path):
    op, after = gil_probe(what, data, path)
    try:
        return max_stall_while(op)
    finally:
        after()


@pytest.mark.parametrize("what", ["dump", "load", "to_numpy", "writer"])
def test_gil_released_during_io(tmp_path, what):
    """A C++ call that kept the GIL during its I/O would stop a counting thread for the
    whole call, in every attempt: its longest pause would be (nearly) the call's length.
    A loaded machine also pauses the counter (the kernel runs other work, or the GIL's
    holder is preempted), in slices, rarely for most of a call and not in every call: so
    the call is made long enough to tell (>= 80 ms, growing the data from 8 to 256 MiB),
    and it passes when one of 3 such calls shows a longest pause under 60% of its length.
    (One attempt and pauses counted outside the call failed 1 run in 30 under a build.)"""
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        data = np.ones((8 << 20) // 4, np.float32)
        path = tmp_path / "big.safetensors"
        stsw.dump({"x": np.ones(1, np.float32)}, path, durable=False)
        for _ in range(6):  # grow (8 to 256 MiB) until the call is long enough to tell
            duration, stall = measure_gil(what, data, path)
            if duration >= 0.08:
                break
            data = np.ones(data.size * 2, np.float32)
        if duration < 0.08:
            pytest.skip(f"{what} took only {duration * 1e3:.0f} ms: too fast to tell")
        tries = [(duration, stall)]
        while stall >= duration * 0.6 and len(tries) < 3:
            duration, stall = measure_gil(what, data, path)
            tries.append((duration, stall))
        assert any(s < d * 0.6 for d, s in tries if d >= 0.08), (what, data.nbytes, tries)
    finally:
        sys.setswitchinterval(old)


def test_many_threads_one_reader_and_close_with_reads_pending(model):
    from concurrent.futures import ThreadPoolExecutor

    p, state = model
    r = stsw.StreamReader(p)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda k: (k, r.to_numpy(k)), list(state) * 4))
    for k, a in got:
        np.testing.assert_array_equal(a, state[k])
    outs = {k: np.empty(1 << 16, np.float32) for k in state}
    futs = [r.read_into(k, o) for k, o in outs.items()]
    r.close()  # pending reads keep their files open
    for f in futs:
        f.result()
    for k in state:
        np.testing.assert_array_equal(outs[k], state[k])
