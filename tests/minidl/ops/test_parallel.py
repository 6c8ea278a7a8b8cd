"""The thread pool helper, and the threaded ReLU it serves (large CPU activations)."""

import numpy as np

from minidl import no_grad
from minidl.ops import _parallel, relu


def test_cuts_cover_the_range_once():
    for size, parts in [(10, 3), (2, 4), (7, 1), (16, 16)]:
        slices = _parallel.cuts(size, parts)
        assert len(slices) == min(size, parts)
        assert np.concatenate([np.arange(size)[s] for s in slices]).tolist() == list(range(size))


def test_run_calls_every_task():
    seen = []
    _parallel.run([lambda i=i: seen.append(i) for i in range(5)])
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_a_task_that_runs_tasks_does_not_wait_on_a_full_pool(monkeypatch):
    monkeypatch.setattr(_parallel, "THREADS", 2)
    seen = []
    inner = [lambda i=i: seen.append(i) for i in range(4)]
    _parallel.run([lambda: _parallel.run(inner) for _ in range(4)])  # 4 outer tasks, 2 threads
    assert sorted(seen) == sorted(list(range(4)) * 4)


def test_large_relu_matches_maximum_and_keeps_channels_last(monkeypatch):
    monkeypatch.setattr(_parallel, "THREADS", 3)
    x_l = np.random.default_rng(0).standard_normal((5, 32, 32, 260), dtype=np.float32)  # > 2**20
    x = x_l.transpose(0, 3, 1, 2)  # NCHW view over channels-last memory, as conv2d returns
    with no_grad():
        y = relu(x).data
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0))
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous


def test_run_blocks_visits_every_row_of_every_image_once(monkeypatch):
    monkeypatch.setattr(_parallel, "THREADS", 3)
    for n, n_rows, budget in [(4, 5, 1), (4, 5, 30), (4, 5, 120), (4, 5, 10**6), (1, 7, 20)]:
        seen = np.zeros((n, n_rows), int)
        _parallel.run_blocks(lambda images, rows: np.add.at(seen, (images, rows), 1),
                             n, n_rows, 10, budget)
        np.testing.assert_array_equal(seen, 1)


def test_each_slice_covers_the_first_axis_once(monkeypatch):
    monkeypatch.setattr(_parallel, "THREADS", 3)
    monkeypatch.setattr(_parallel, "SLICE_NUMBERS", 1000)
    a = np.zeros((37, 3, 100))  # 11,100 numbers: slices of 3 items
    monkeypatch.setattr(_parallel, "PARALLEL_SIZE", a.size)
    seen = []
    _parallel.each_slice(lambda s: seen.append((s.start, s.stop)), a)
    covered = sorted(i for start, stop in seen for i in range(start, stop))
    assert covered == list(range(37)) and max(stop - start for start, stop in seen) == 3
    calls = []
    _parallel.each_slice(calls.append, a[:, :, :50])  # below PARALLEL_SIZE: one call
    assert calls == [Ellipsis]


def test_large_activation_gradients_and_sums_match_the_plain_formulas(monkeypatch):
    from minidl import Tensor
    from minidl.ops import activations
    monkeypatch.setattr(_parallel, "THREADS", 3)
    monkeypatch.setattr(_parallel, "SLICE_NUMBERS", 2**14)  # many slices per thread
    rng = np.random.default_rng(1)
    shape = (5, 24, 24, 400)  # > 2**20 numbers
    y_l, gy_l = (rng.standard_normal(shape, dtype=np.float32) for _ in range(2))
    y, gy = y_l.transpose(0, 3, 1, 2), gy_l.transpose(0, 3, 1, 2)
    for name, derivative in [("relu", y > 0), ("tanh", 1 - y * y), ("relu6", (y > 0) & (y < 6))]:
        gz = activations.gradient(y, gy, name)
        np.testing.assert_array_equal(gz, gy * derivative.astype(np.float32))
        assert gz.transpose(0, 2, 3, 1).flags.c_contiguous  # y's order
    a, b = Tensor(y, requires_grad=True), Tensor(gy, requires_grad=True)
    for got, want in [(a + b, y + gy), (a - b, y - gy), (a * b, y * gy), (a / b, y / gy)]:
        np.testing.assert_array_equal(got.data, want)
    (a * b).backward(np.ones_like(y))
    np.testing.assert_array_equal(a.grad, gy)
