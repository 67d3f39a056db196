"""Multi-page TIFF stacks (one frame per page, 8/16/32 bit, grey or colour), through tifffile.

Every page is checked at opening (its header only, no pixels): a stack whose pages differ
in size, type or channels is refused before any work. Frames are read page by page, as
stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vmic.errors import VmicError
from vmic.io.cameras import frame_metadata, import_extra

__all__ = ["TiffStackReader", "TIFF_SUFFIXES"]

TIFF_SUFFIXES = (".tif", ".tiff")
# Compression schemes that lose information, and those that may or may not.
LOSSY = frozenset(["JPEG", "OJPEG", "WEBP", "JPEGXR", "JPEG_LOSSY"])
EITHER = frozenset(["JPEG2000", "JPEGXL", "LERC"])


def _layout(page) -> tuple[tuple[int, ...], str]:
    """A page's frame shape (H, W) or (H, W, C) and dtype name, as read."""
    shape, axes = tuple(page.shape), page.axes
    if axes == "SYX":  # planar colour: channels first on disk
        shape = shape[1:] + shape[:1]
    elif axes not in ("YX", "YXS"):
        raise VmicError(f"page {page.index} has axes {axes!r}; pages of grey (YX) or colour "
                        "(YXS) frames are read")
    return shape, np.dtype(page.dtype).name


class TiffStackReader:
    """Frames of a multi-page TIFF file, one per page.

    Raises
    ------
    VmicError
        tifffile missing, a file that is not a TIFF, pages of mixed sizes, types or
        channels, or of another layout than grey or colour frames.
    """

    container_fps = None

    def __init__(self, path: Path):
        self._tifffile = import_extra("tifffile", "TIFF stacks")
        self.path = path
        with self._open() as tif:
            pages = tif.pages
            first = pages.first
            shape, dtype = _layout(first)
            for page in pages:
                other = _layout(page)
                if other != (shape, dtype):
                    raise VmicError(f"{path}: TIFF stack with mixed sizes: page {page.index} "
                                    f"holds {'x'.join(map(str, other[0]))} {other[1]}, page 0 "
                                    f"{'x'.join(map(str, shape))} {dtype}; all pages must match")
            self.n_frames = len(pages)
            compression = first.compression.name
        if len(shape) == 3 and shape[2] not in (1, 3, 4):
            raise VmicError(f"{path}: pages of {shape[2]} channels; grey or colour (3 or 4) "
                            "are read")
        self._frame = shape
        self.shape = shape[:2]
        self.bytes_per_pixel = np.dtype(dtype).itemsize * (shape[2] if len(shape) == 3 else 1)
        lossless = False if compression in LOSSY else None if compression in EITHER else True
        self.metadata = frame_metadata("tiff", dtype, bit_depth=8 * np.dtype(dtype).itemsize,
                                       codec=f"tiff {compression.lower()}",
                                       pixel_format=("grey" if len(shape) == 2 else
                                                     f"{shape[2]} channels"),
                                       lossless=lossless)

    def _open(self):
        try:
            return self._tifffile.TiffFile(self.path)
        except (self._tifffile.TiffFileError, OSError, ValueError) as exc:
            raise VmicError(f"cannot read {self.path} as a TIFF stack: {exc}") from None

    def _page(self, page) -> np.ndarray:
        image = page.asarray()
        if page.axes == "SYX":
            image = np.moveaxis(image, 0, -1)
        return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image

    def batches(self, start: int, count: int, batch_size: int) -> Iterator[np.ndarray]:
        stop = min(start + count, self.n_frames)
        with self._open() as tif:  # one handle per pass: batches run in a reading thread
            for i in range(start, stop, batch_size):
                yield np.stack([self._page(tif.pages[k])
                                for k in range(i, min(i + batch_size, stop))])

    def timestamps(self, start: int, count: int) -> np.ndarray | None:
        return None

    def close(self) -> None:
        pass
