"""Read ahead in a forked child process: batches made there, handed over in shared memory.

Decoding video in a thread of the recovering process (:class:`vmic.frames.Prefetcher`)
shares the interpreter lock with everything else that process does. OpenCV releases the
lock while it decodes a frame, but the thread needs it back after every frame, and while
the main thread imports numba or the pyramid threads hand batches around, it waits. On an
1100-frame 192 x 192 FFV1 file that thread decoded 350-530 frames/s during a recovery,
against about 900 alone. A forked child has an interpreter of its own: it decodes at its
own pace, into a ring of slots in an anonymous shared mapping, and says over a pipe which
slot holds which batch; the parent says over another pipe when a slot may be reused.

The child runs only the batch iterator it is given (OpenCV's decoder), never the parent's
threads, handlers or exit code: it leaves through ``os._exit``. It ignores Ctrl-C (the
parent stops it), and it ends by itself when the parent's end of a pipe closes. Linux only,
and only from a process with no other Python thread running (a fork copies just the
calling thread; a lock another thread holds would stay locked in the child);
:func:`can_fork` says whether both hold. ``VMIC_DECODE_PROCESS=0`` turns it off.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
import threading
import warnings

import numpy as np

from .errors import VmicError

__all__ = ["ForkedPrefetcher", "can_fork"]

# Messages from the child: a header (kind, slot, frames, text length), then the text.
_HEADER = struct.Struct("<iiiI")
_BATCH, _DONE, _WARNING, _VMIC_ERROR, _ERROR = range(5)
_SLOT = struct.Struct("<i")


def can_fork() -> bool:
    """Whether :class:`ForkedPrefetcher` may be used here and now.

    True on Linux, with ``os.fork``, when the calling thread is the only Python thread
    and ``VMIC_DECODE_PROCESS`` is not set to ``0``.
    """
    if os.environ.get("VMIC_DECODE_PROCESS", "1").strip() in ("0", "false", "no", "off"):
        return False
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and threading.active_count() == 1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, size: int) -> bytes:
    # Fewer than `size` bytes only at end of file (the other side closed or died).
    chunks = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, kind: int, slot: int = 0, frames: int = 0, text: str = "") -> None:
    payload = text.encode("utf-8", "replace")
    _write_all(fd, _HEADER.pack(kind, slot, frames, len(payload)) + payload)


def _child(make_iterator, slots: np.ndarray, to_parent: int, from_parent: int) -> None:
    # Runs in the child: fill free slots with batches, announce each, forward warnings.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    free = list(range(slots.shape[0] - 1, -1, -1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def forward_warnings():
            for item in caught:
                _send(to_parent, _WARNING, text=str(item.message))
            caught.clear()

        try:
            for batch in make_iterator():
                if not free:
                    data = _read_exact(from_parent, _SLOT.size)
                    if len(data) < _SLOT.size:
                        return  # the parent stopped reading
                    free.append(_SLOT.unpack(data)[0])
                slot = free.pop()
                count = batch.shape[0]
                if count > slots.shape[1] or batch.shape[1:] != slots.shape[2:]:
                    raise ValueError(f"batch of shape {batch.shape} does not fit a slot of "
                                     f"{slots.shape[1:]}")
                slots[slot, :count] = batch
                forward_warnings()
                _send(to_parent, _BATCH, slot, count)
            forward_warnings()
            _send(to_parent, _DONE)
        except BrokenPipeError:
            return
        except VmicError as exc:
            forward_warnings()
            _send(to_parent, _VMIC_ERROR, text=str(exc))
        except Exception as exc:
            _send(to_parent, _ERROR, text=f"{type(exc).__name__}: {exc}")


class ForkedPrefetcher:
    """Iterate batches that a forked child process makes, up to ``depth`` batches ahead.

    Parameters
    ----------
    make_iterator : callable
        Called once, in the child, to make the iterator of batches: arrays of shape
        ``(n, *frame_shape)`` and dtype ``dtype`` with ``n <= batch_size``.
    batch_size : int
        Most frames in a batch.
    frame_shape : tuple of int
        Shape of one stored frame, e.g. (H, W) or (H, W, 3).
    dtype : numpy dtype
        Dtype of the stored frames.
    depth : int
        Slots in the shared ring: how many batches the child may read ahead (>= 2).

    Notes
    -----
    Each batch returned is a view into a slot of the shared ring, valid until the next
    call to ``next`` (or :meth:`close`), which hands the slot back to the child: copy or
    convert it before asking for the next one. Warnings issued in the child are issued
    again here; a :class:`~vmic.errors.VmicError` raised there is raised again here, and
    any other error as a RuntimeError with its type and message. Starting one is a fork:
    the child starts at once, so it reads while the caller still sets up.
    """

    def __init__(self, make_iterator, batch_size: int, frame_shape: tuple[int, ...], dtype,
                 depth: int = 2):
        import mmap

        self._pid = 0
        self._finished = True
        self._held: int | None = None
        self._fds: list[int] = []
        depth = max(2, int(depth))
        shape = (depth, int(batch_size)) + tuple(int(n) for n in frame_shape)
        dtype = np.dtype(dtype)
        size = max(1, int(np.prod(shape)) * dtype.itemsize)
        # Anonymous and shared: after the fork, parent and child see the same pages. Pages
        # are only allocated when first written, so unused slots cost nothing.
        self._buffer = mmap.mmap(-1, size)
        self._slots = np.frombuffer(self._buffer, dtype=dtype, count=int(np.prod(shape)))
        self._slots = self._slots.reshape(shape)
        from_child, to_parent = os.pipe()
        from_parent, to_child = os.pipe()
        with warnings.catch_warnings():
            # Python >= 3.12 warns about forking a process with other OS threads (BLAS
            # pools): the child here runs only the decoder, never code of those threads.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                os.close(from_child)
                os.close(to_child)
                _child(make_iterator, self._slots, to_parent, from_parent)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(to_parent)
        os.close(from_parent)
        self._pid = pid
        self._from_child, self._to_child = from_child, to_child
        self._fds = [from_child, to_child]
        self._finished = False

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        if self._finished:
            raise StopIteration
        self._release()
        while True:
            header = _read_exact(self._from_child, _HEADER.size)
            if len(header) < _HEADER.size:
                self.close()
                raise VmicError("the decoding process ended unexpectedly")
            kind, slot, count, length = _HEADER.unpack(header)
            text = _read_exact(self._from_child, length).decode("utf-8", "replace")
            if kind == _WARNING:
                warnings.warn(text, stacklevel=2)
                continue
            break
        if kind == _BATCH:
            self._held = slot
            return self._slots[slot, :count]
        self.close()
        if kind == _DONE:
            raise StopIteration
        if kind == _VMIC_ERROR:
            raise VmicError(text)
        raise RuntimeError(f"decoding process failed: {text}")

    def _release(self) -> None:
        # Hand the slot of the last batch back to the child.
        if self._held is None:
            return
        slot, self._held = self._held, None
        try:
            _write_all(self._to_child, _SLOT.pack(slot))
        except OSError:  # the child has finished and closed its end: nothing to hand back
            pass

    def close(self) -> None:
        """Stop the child (if still running) and release the pipes; idempotent."""
        self._finished = True
        self._held = None
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        if self._pid:
            pid, self._pid = self._pid, 0
            try:
                os.kill(pid, signal.SIGKILL)  # it holds nothing but its copy of the decoder
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit, modules may already be torn down
            pass
