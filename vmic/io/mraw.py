"""Photron MRAW frames, described by their CIH or CIHX header, read through pyMRAW.

The header (read by ``pyMRAW.get_cih``) gives the frame count, size, bit depth and record
rate. The frames are read as stored, uint8 or uint16 (0-4095 for 12 bit), one batch at a
time from a window of the file mapped into memory (:func:`vmic.io.cameras.file_window`);
12-bit packed frames are unpacked with pyMRAW's ``nb_read_uint12``, batch by batch, where
``pyMRAW.load_video`` would unpack the whole file into memory.

A header's "Save Step" (CIH) or ``skipFrame`` (CIHX) above 1 means that only every n-th
captured frame was saved: the clip's rate is the record rate divided by it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vmic.errors import VmicError
from vmic.io.cameras import (
    MappedFrames,
    check_frame_count,
    file_window,
    frame_metadata,
    import_extra,
)
from vmic.io.rate import StatedRate

__all__ = ["MrawReader", "MRAW_SUFFIXES", "mraw_header_path"]

MRAW_SUFFIXES = (".cih", ".cihx", ".mraw")
BITS = (8, 12, 16)


def mraw_header_path(path: Path) -> Path:
    """The CIH/CIHX header of ``path`` (itself, or the header beside an ``.mraw``)."""
    if path.suffix.lower() in (".cih", ".cihx"):
        return path
    for suffix in (".cihx", ".cih"):
        for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    raise VmicError(f"{path}: no header {path.with_suffix('.cih').name} or "
                    f"{path.with_suffix('.cihx').name} beside it; an MRAW file is read "
                    "through its header")


def _save_step(header: Path, cih: dict) -> int:
    """The header's frame skip: "Save Step" in a CIH, ``skipFrame`` in a CIHX (1 if absent)."""
    if header.suffix.lower() == ".cihx":
        text = header.read_text(encoding="utf-8", errors="ignore")
        frame_info = re.search(r"<frameInfo>(.*?)</frameInfo>", text, re.DOTALL)
        match = re.search(r"<skipFrame>\s*(\d+)\s*<", frame_info.group(1) if frame_info else "")
        step = match.group(1) if match else 1
    else:
        step = cih.get("Save Step", 1)
    try:
        step = int(step)
    except (TypeError, ValueError):
        raise VmicError(f"{header}: Save Step must be an integer, got {step!r}") from None
    if step < 1:
        raise VmicError(f"{header}: Save Step must be >= 1, got {step}")
    return step


def _number(cih: dict, key: str, header: Path, kind=int):
    if key not in cih:
        raise VmicError(f"{header}: the header has no '{key}' (a damaged header?)")
    try:
        return kind(cih[key])
    except (TypeError, ValueError):
        raise VmicError(f"{header}: '{key}' must be a number, got {cih[key]!r}") from None


class MrawReader(MappedFrames):
    """Frames of a Photron MRAW file (8-, 12- or 16-bit mono), through its CIH/CIHX header.

    Parameters
    ----------
    path : Path
        The ``.cih``/``.cihx`` header, or the ``.mraw`` beside one (same name).

    Raises
    ------
    VmicError
        pyMRAW missing, a header that cannot be read or lacks a field, a bit depth other
        than 8, 12 or 16, an MRAW file missing or shorter than the header says.
    """

    container_fps = None

    def __init__(self, path: Path):
        pymraw = import_extra("pyMRAW", "Photron MRAW files")
        self._unpack12 = pymraw.nb_read_uint12
        header = mraw_header_path(path)
        try:
            cih = pymraw.get_cih(str(header))
        except Exception as exc:  # pyMRAW raises bare Exceptions, KeyErrors...: any is bad input
            raise VmicError(f"cannot read the Photron header {header}: "
                            f"{type(exc).__name__}: {exc}") from None
        if str(cih.get("File Format", "mraw")).lower() != "mraw":
            raise VmicError(f"{header}: File Format is {cih['File Format']!r}; only MRAW "
                            "files are read (export TIFF frames as a folder or a stack)")
        self.n_frames = _number(cih, "Total Frame", header)
        height = _number(cih, "Image Height", header)
        width = _number(cih, "Image Width", header)
        self.bits = _number(cih, "Color Bit", header)
        if self.bits not in BITS:
            raise VmicError(f"{header}: Color Bit is {self.bits}; MRAW files of 8, 12 or 16 bit "
                            "are read")
        if self.n_frames < 1 or height < 1 or width < 1:
            raise VmicError(f"{header}: the header announces {self.n_frames} frames of "
                            f"{width}x{height} px")
        self.shape = (height, width)
        self.data_path = header.with_suffix(".mraw")
        if not self.data_path.is_file():
            raise VmicError(f"{header}: its frames file {self.data_path.name} is missing")
        self._pixels = height * width
        check_frame_count(self.data_path, f"{self.n_frames} frames of {width}x{height} px at "
                          f"{self.bits} bit", self.data_path.stat().st_size,
                          self._byte(self.n_frames * self._pixels))
        step = _save_step(header, cih)
        self.save_step = step
        rate = self.stated_rate = None  # a header without a rate: --fps or the sidecar
        if "Record Rate(fps)" in cih:
            rate = _number(cih, "Record Rate(fps)", header, float)
            note = None
            if step > 1:
                note = (f"{header.name}: record rate {rate:g} fps with save step {step} (one "
                        f"frame in {step} saved): the clip's rate is {rate / step:g} fps")
            self.stated_rate = StatedRate(rate / step, "header",
                                          f"{header.name}: Record Rate(fps)", note)
        dtype = np.uint8 if self.bits == 8 else np.uint16
        self.bytes_per_pixel = np.dtype(dtype).itemsize
        # 16-bit files usually hold fewer significant bits ("EffectiveBit Depth", often 12)
        effective = cih.get("EffectiveBit Depth", self.bits)
        depth = effective if isinstance(effective, int) and 0 < effective <= self.bits \
            else self.bits
        self.metadata = frame_metadata("mraw", dtype, bit_depth=depth, codec="mraw",
                                       pixel_format=f"mono{self.bits}")
        self.metadata.update(camera=str(cih.get("Camera Type", "")) or None,
                             record_fps=rate, save_step=step)

    def _byte(self, pixel: int) -> int:
        return pixel * self.bits // 8

    def read_frames(self, first: int, n: int) -> np.ndarray:
        """Frames ``first`` .. ``first + n - 1`` as stored, from one mapped window."""
        p0, p1 = first * self._pixels, (first + n) * self._pixels
        if self.bits != 12:
            window = file_window(self.data_path, self._byte(p0), self._byte(p1 - p0))
            stored = np.dtype(np.uint8 if self.bits == 8 else "<u2")
            frames = np.frombuffer(window, dtype=stored).astype(stored.newbyteorder("="))
        else:
            # 3 bytes hold 2 pixels: start and end on even pixels (a frame of odd size
            # begins mid-byte), unpack, then cut to the frames asked for.
            a, b = p0 - p0 % 2, p1 + p1 % 2
            window = file_window(self.data_path, self._byte(a), self._byte(b - a))
            frames = self._unpack12(np.asarray(window))[p0 - a : p0 - a + p1 - p0]
        del window  # unmapped here: the frames are a copy
        return frames.reshape((n, *self.shape))

