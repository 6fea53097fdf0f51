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
    """Runs op() on this thread while a counting thread records its longest pause."""
    stop = threading.Event()
    gaps = []

    def count():
        last = time.perf_counter()
        worst = 0.0
        while not stop.is_set():
            now = time.perf_counter()
            worst = max(worst, now - last)
            last = now
        gaps.append(worst)

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.02)
    start = time.perf_counter()
    op()
    duration = time.perf_counter() - start
    stop.set()
    t.join()
    return duration, gaps[0]


@pytest.mark.parametrize("what", ["dump", "load", "to_numpy", "writer"])
def test_gil_released_during_io(tmp_path, what):
    """A C++ call that kept the GIL would stall the counting thread for its whole length."""
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        size = 8 << 20
        data = np.ones(size // 4, np.float32)
        path = tmp_path / "big.safetensors"
        if what != "dump":
            stsw.dump({"x": data}, path, durable=False)
        for _ in range(6):  # grow (8 to 256 MiB) until the call is long enough to tell
            if what == "dump":
                op = lambda: stsw.dump({"x": data}, path, durable=True)
            elif what == "load":
                op = lambda: stsw.load(path, framework="np")
            elif what == "to_numpy":
                op = lambda: stsw.StreamReader(path).to_numpy("x")
            else:
                def op():
                    m = [stsw.TensorMeta("x", "F32", data.shape, 0, data.nbytes)]
                    with stsw.StreamWriter.open(path, m) as w:
                        w.write_block("x", data)
            duration, stall = max_stall_while(op)
            if duration >= 0.08:
                break
            data = np.ones(data.size * 2, np.float32)
            if what != "dump":
                stsw.dump({"x": data}, path, durable=False)
        if duration < 0.08:
            pytest.skip(f"{what} took only {duration * 1e3:.0f} ms: too fast to tell")
        assert stall < duration * 0.6, (what, duration, stall)
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
