"""Progress bars on stderr (tqdm), silenced by ``quiet``."""

from __future__ import annotations

import sys

from tqdm import tqdm  # not tqdm.auto: its notebook probe costs start-up time


def progress(total: int | None, desc: str, quiet: bool = False, unit: str = "frame"):
    """Return a tqdm bar writing to stderr; disabled when ``quiet`` is true."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=quiet,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
