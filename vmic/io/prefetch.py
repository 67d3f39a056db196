"""Read ahead: iterate an iterable in a background thread."""

from __future__ import annotations

__all__ = ["Prefetcher", "prefetch"]


def _put(items, stop, entry) -> bool:
    import queue

    while not stop.is_set():
        try:
            items.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _produce(iterator, items, stop) -> None:
    # Runs in the prefetch thread.
    try:
        for item in iterator:
            if not _put(items, stop, ("item", item)):
                return
        _put(items, stop, ("done", None))
    except BaseException as exc:  # handed to the consumer, raised there
        _put(items, stop, ("error", exc))


class Prefetcher:
    """Iterate an iterable in a background thread, up to ``depth`` items ahead.

    The thread starts at construction, so decoding (FFmpeg, through PyAV, releases the GIL
    while it decodes and converts) can run while the caller still sets up (imports, numba's
    first use, the reference frame), and later overlaps the pyramid work on the batches
    already read. Exceptions from the producer
    are raised in the consumer; :meth:`close` (also on garbage collection, e.g. after a
    ``break``) stops the producer.
    """

    def __init__(self, iterable, depth: int = 2):
        import queue
        import threading

        self._queue_module = queue
        self._items: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._finished = False
        # The thread gets the queue and the event, not `self`: holding `self` would keep the
        # object alive, and __del__ (which stops the thread after a `break`) would never run.
        self._worker = threading.Thread(
            target=_produce, args=(iter(iterable), self._items, self._stop),
            name="vmic-prefetch", daemon=True)
        self._worker.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        kind, value = self._items.get()
        if kind == "item":
            return value
        self.close()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the producer and wait for its thread."""
        self._finished = True
        if not hasattr(self, "_worker"):  # __init__ did not get that far
            return
        self._stop.set()
        while self._worker.is_alive():
            try:
                self._items.get_nowait()
            except self._queue_module.Empty:
                self._worker.join(timeout=0.05)

    def __del__(self):
        self.close()


def prefetch(iterable, depth: int = 2) -> Prefetcher:
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead (see
    :class:`Prefetcher`)."""
    return Prefetcher(iterable, depth)
