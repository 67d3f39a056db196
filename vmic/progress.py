"""Progress bars on stderr (tqdm), silenced by ``quiet``."""

from __future__ import annotations

import sys


class _Silent:
    """What a quiet run gets instead of a bar: the same calls, doing nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int | None, desc: str, quiet: bool = False, unit: str = "frame"):
    """A tqdm bar writing to stderr, or a silent stand-in when ``quiet`` is true.

    Either has ``update(n)`` and ``close()`` and is a context manager. tqdm is imported
    only when a bar is shown (about 18 ms of start-up).
    """
    if quiet:
        return _Silent()
    from tqdm import tqdm  # not tqdm.auto: its notebook probe costs start-up time

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
