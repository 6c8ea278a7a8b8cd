"""The CPU buffer cache: a block is handed out again only when no array can see it any more."""

import numpy as np
import pytest

from minidl import no_grad
from minidl.ops import _memory, conv2d

MB = 1 << 20


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(_memory, "_blocks", [])


def address(a):
    """Where ``a``'s data starts (an int: holding a block itself would keep it in use)."""
    return a.__array_interface__["data"][0]


def test_a_dead_array_gives_its_block_to_the_next_request():
    a = _memory.empty((2, MB), np.float32)
    block = address(a)
    del a
    b = _memory.empty((MB, 2), np.float32)
    assert address(b) == block and b.shape == (MB, 2) and b.flags.c_contiguous
    assert len(_memory._blocks) == 1


def test_a_block_seen_by_any_view_is_not_handed_out():
    a = _memory.empty((4, MB), np.float32)
    a[...] = 7
    views = [a.T[::2], a.reshape(-1)[10:], a[1]]
    del a
    b = _memory.empty((4, MB), np.float32)
    b[...] = 0
    for v in views:
        assert not np.shares_memory(b, v) and np.all(v == 7)
    assert len(_memory._blocks) == 2


def test_the_smallest_idle_block_that_fits_is_chosen():
    arrays = [_memory.empty(n * MB, np.uint8) for n in (8, 2, 4)]
    blocks = [address(a) for a in arrays]
    del arrays
    assert address(_memory.empty(3 * MB, np.uint8)) == blocks[2]
    assert address(_memory.empty(MB + 1, np.uint8)) == blocks[1]


def test_small_requests_and_other_array_modules_bypass_the_cache():
    small = _memory.empty((16, 16), np.float64)
    assert small.base is None and _memory._blocks == []
    zeros = _memory.zeros((3, MB), np.float32)
    assert np.all(zeros == 0) and zeros.dtype == np.float32

    class FakeModule:  # stands for CuPy, which pools device memory itself
        @staticmethod
        def empty(shape, dtype):
            return ("device array", shape, dtype)
    assert _memory.empty((4, MB), np.float32, FakeModule)[0] == "device array"
    assert len(_memory._blocks) == 1  # only the zeros above


def test_idle_blocks_beyond_the_limit_are_released(monkeypatch):
    monkeypatch.setattr(_memory, "IDLE_LIMIT", 5 * MB)
    arrays = [_memory.empty(4 * MB, np.uint8) for _ in range(3)]
    in_use = arrays.pop()
    del arrays  # two idle 4 MB blocks
    assert _memory.cached_bytes() == (4 * MB, 8 * MB)
    _memory.empty(6 * MB, np.uint8)  # fits no idle block: idle trimmed to 5 - 6 < 0 first
    used, idle = _memory.cached_bytes()
    assert idle == 6 * MB and used == 4 * MB  # the new block, already dead, is idle
    _memory.release()
    assert _memory.cached_bytes() == (4 * MB, 0)
    assert in_use.size == 4 * MB


def test_a_repeated_forward_reuses_its_memory_and_gives_the_same_result():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 64, 64), dtype=np.float32)
    W = rng.standard_normal((16, 16, 3, 3), dtype=np.float32)
    with no_grad():
        first = conv2d(conv2d(x, W, padding=1, activation="relu"), W, padding=1).numpy().copy()
        blocks = len(_memory._blocks)
        again = conv2d(conv2d(x, W, padding=1, activation="relu"), W, padding=1).numpy()
    assert blocks > 0 and len(_memory._blocks) == blocks
    np.testing.assert_array_equal(again, first)


def test_blocks_stay_in_order_of_size_and_a_busy_block_is_passed_over():
    arrays = [_memory.empty(n * MB, np.uint8) for n in (8, 2, 4, 2)]
    assert [b.size for b in _memory._blocks] == [2 * MB, 2 * MB, 4 * MB, 8 * MB]
    busy = arrays[1]
    del arrays
    b = _memory.empty(2 * MB, np.uint8)  # one 2 MB block is busy, the other is not
    assert not np.shares_memory(b, busy)
    c = _memory.empty(2 * MB, np.uint8)  # both 2 MB blocks busy now: the 4 MB one
    assert address(c) == address(_memory._blocks[2]) and len(_memory._blocks) == 4


@pytest.mark.parametrize("axes", [(0, 1, 2, 3), (0, 3, 1, 2), (2, 0, 3, 1)])
def test_empty_like_keeps_the_memory_order(axes):
    a = np.empty((3, 40, 50, 70), np.float32).transpose(axes)  # 1.6 MB: from the cache
    b = _memory.empty_like(a)
    assert b.shape == a.shape and b.dtype == a.dtype and b.base is not None
    assert np.argsort(b.strides).tolist() == np.argsort(a.strides).tolist()
    assert b.transpose(np.argsort(axes)).flags.c_contiguous
    assert _memory.empty_like(a, np.float64).dtype == np.float64
