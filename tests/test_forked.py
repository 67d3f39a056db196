"""Reading ahead in a forked child process (vmic.forked), and its use for video clips."""

import os
import signal
import sys
import threading
import warnings

import cv2
import numpy as np
import pytest

from vmic import forked
from vmic.errors import VmicError
from vmic.forked import ForkedPrefetcher, can_fork
from vmic.frames import open_clip
from vmic.recover import _reference_from_stream

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the forked reader is Linux only")


def _batches(n_batches=9, size=4, shape=(5, 6), last=3, seed=0):
    rng = np.random.default_rng(seed)
    out = [rng.integers(0, 255, (size,) + shape, dtype=np.uint8) for _ in range(n_batches)]
    out.append(rng.integers(0, 255, (last,) + shape, dtype=np.uint8))
    return out


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # reaped: no longer our child
    return False


def test_batches_arrive_whole_and_in_order_through_a_small_ring():
    expected = _batches()
    # Two slots for ten batches: every slot is reused several times.
    reader = ForkedPrefetcher(lambda: iter(expected), 4, (5, 6), np.uint8, depth=2)
    got = [batch.copy() for batch in reader]
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert list(reader) == []  # finished for good


def test_sixteen_bit_colour_frames_keep_their_values():
    rng = np.random.default_rng(1)
    expected = [rng.integers(0, 65535, (2, 3, 4, 3), dtype=np.uint16) for _ in range(5)]
    reader = ForkedPrefetcher(lambda: iter(expected), 2, (3, 4, 3), np.uint16, depth=3)
    for a, b in zip(reader, expected, strict=True):
        assert a.dtype == np.uint16
        np.testing.assert_array_equal(a, b)


def test_warnings_in_the_child_are_warned_again_here():
    def make():
        yield np.zeros((1, 2, 2), np.uint8)
        warnings.warn("clip.avi: decoding stopped after 1 of the 3 frames", stacklevel=2)
        yield np.ones((1, 2, 2), np.uint8)

    with pytest.warns(UserWarning, match="decoding stopped after 1 of the 3"):
        got = [b.copy() for b in ForkedPrefetcher(make, 1, (2, 2), np.uint8)]
    assert [int(b.max()) for b in got] == [0, 1]


def test_errors_in_the_child_are_raised_here():
    def failing(error):
        def make():
            yield np.zeros((1, 2, 2), np.uint8)
            raise error
        return make

    reader = ForkedPrefetcher(failing(VmicError("clip.avi: video holds no decodable frames")),
                              1, (2, 2), np.uint8)
    next(reader)
    with pytest.raises(VmicError, match="no decodable frames"):
        next(reader)
    reader = ForkedPrefetcher(failing(KeyError("boom")), 1, (2, 2), np.uint8)
    next(reader)
    with pytest.raises(RuntimeError, match="decoding process failed: KeyError"):
        next(reader)
    # A batch that does not fit the slots is an error too, not a silent overrun.
    reader = ForkedPrefetcher(lambda: iter([np.zeros((3, 2, 2), np.uint8)]), 2, (2, 2),
                              np.uint8)
    with pytest.raises(RuntimeError, match="does not fit"):
        next(reader)


def _endless(shape):
    # A batch iterator that never ends, for children that must be stopped.
    def make():
        while True:
            yield np.zeros(shape, np.uint8)
    return make


def test_a_child_that_dies_is_one_clear_error():
    reader = ForkedPrefetcher(_endless((1, 2, 2)), 1, (2, 2), np.uint8, depth=2)
    next(reader)
    os.kill(reader._pid, signal.SIGKILL)
    with pytest.raises(VmicError, match="ended unexpectedly"):
        for _ in range(10):  # the two slots already filled may still arrive first
            next(reader)


def test_closing_early_stops_and_reaps_the_child():
    reader = ForkedPrefetcher(_endless((2, 8, 8)), 2, (8, 8), np.uint8, depth=2)
    next(reader)
    pid = reader._pid
    reader.close()
    reader.close()  # idempotent
    assert _gone(pid)
    with pytest.raises(StopIteration):
        next(reader)


def test_can_fork_needs_one_thread_and_obeys_the_switch(monkeypatch):
    monkeypatch.setenv("VMIC_DECODE_PROCESS", "0")
    assert not can_fork()
    monkeypatch.setenv("VMIC_DECODE_PROCESS", "1")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()  # a fork would copy this thread's locks, not the thread
    finally:
        stop.set()
        other.join()


def _textured_video(path, n=30, shape=(24, 32)):
    rng = np.random.default_rng(7)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 30,
                             (shape[1], shape[0]), isColor=False)
    frames = (rng.random((n,) + shape) * 255).astype(np.uint8)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return frames


def test_video_batches_from_the_child_equal_those_from_a_thread(tmp_path, monkeypatch):
    frames = _textured_video(tmp_path / "clip.avi")
    started = []
    real = forked.ForkedPrefetcher

    def spy(*args, **kwargs):
        started.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(forked, "ForkedPrefetcher", spy)
    by_process = {}
    by_thread = {}
    for use_process, found in ((True, by_process), (False, by_thread)):
        monkeypatch.setattr(forked, "can_fork", lambda use=use_process: use)
        clip = open_clip(tmp_path / "clip.avi", fps=1000, roi=(2, 3, 20, 16), start=4)
        batches = clip.iter_batches(4)
        for index, batch in batches:
            found[index] = batch
        batches.close()
    assert started == [True]  # the child only where allowed
    assert sorted(by_process) == sorted(by_thread) == list(range(0, 26, 4))
    for index, batch in by_process.items():
        np.testing.assert_array_equal(batch, by_thread[index])
    np.testing.assert_array_equal(by_process[0][0], frames[4, 3:19, 2:22].astype(np.float32))


def test_reference_taken_from_the_stream_equals_the_clips_mean_frame():
    rng = np.random.default_rng(5)
    frames = (rng.random((40, 12, 16)) * 255).astype(np.float32)
    clip = open_clip(frames, fps=1000.0)
    for first, count in ((0, 32), (3, 5), (0, 1), (30, 32)):
        batches = clip.iter_batches(8, background=False)
        reference, stream = _reference_from_stream(batches, clip, first, count)
        np.testing.assert_allclose(reference, clip.mean_frame(first, count), rtol=1e-6)
        # Every batch still comes through, in order, the replayed ones first.
        replayed = list(stream)
        assert [index for index, _ in replayed] == [0, 8, 16, 24, 32]
        np.testing.assert_array_equal(np.concatenate([b for _, b in replayed]), frames)
    with pytest.raises(VmicError, match=">= 1"):
        _reference_from_stream(clip.iter_batches(8, background=False), clip, 0, 0)
    # Too large to hold: the clip's own mean_frame, and the stream untouched.
    batches = clip.iter_batches(8, background=False)
    reference, stream = _reference_from_stream(batches, clip, 0, 32, max_bytes=1000)
    assert stream is batches
    np.testing.assert_allclose(reference, frames[:32].mean(axis=0), rtol=1e-6)
