"""Phantom CINE frames, read from the file's documented header with NumPy alone.

A CINE file (Vision Research, "Cine File Format", public) starts with a 44-byte
CINEFILEHEADER pointing at a BITMAPINFOHEADER (frame size and bits), the camera's SETUP
block (frame rate) and a table of 64-bit offsets, one per image. Each image is preceded by
an annotation block whose first 32-bit word is its size and whose last word is the image's
size in bytes. Uncompressed rows are stored bottom-up where the bitmap's height is positive
(the Windows bitmap convention) and are turned top-down here; packed raw images are stored
top-down whatever the sign (as a Phantom Flex4K file of a colour chart shows).
Pixels are read as stored (uint8 or uint16, e.g. 0-4095 for a 12-bit recording), never
rescaled.

Read: grey (8/16 bit) and colour-interpolated (24/48 bit BGR) images, uncompressed or
"raw" (a colour sensor's raw mosaic is then read as grey values), and packed raw images
(bitmap compression 256: 10-bit "P10", 4 pixels in 5 bytes; 1024: 12-bit "P12L", 2 pixels
in 3 bytes), unpacked to uint16 codes as stored (P10 codes are log-encoded; they are not
linearised: motion does not need linear intensities). Refused: JPEG cines.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from vmic.errors import VmicError
from vmic.io.cameras import MappedFrames, check_frame_count, file_window, frame_metadata
from vmic.io.rate import StatedRate

__all__ = ["CineReader", "CINE_HEADER", "BITMAP_HEADER", "SETUP_FIELDS"]

# CINEFILEHEADER: Type "CI", Headersize (44), Compression, Version, FirstMovieImage,
# TotalImageCount, FirstImageNo, ImageCount, OffImageHeader, OffSetup, OffImageOffsets,
# TriggerTime (TIME64: fractions, seconds).
CINE_HEADER = struct.Struct("<2sHHHiIiIIIIII")
# BITMAPINFOHEADER: biSize, biWidth, biHeight, biPlanes, biBitCount, biCompression,
# biSizeImage, biXPelsPerMeter, biYPelsPerMeter, biClrUsed, biClrImportant.
BITMAP_HEADER = struct.Struct("<IiiHHIIiiII")
# Byte offsets in the SETUP block (packed to 1 byte, as the format documents it).
SETUP_FIELDS = {"FrameRate16": (0, "<H"), "Mark": (140, "2s"), "Length": (142, "<H"),
                "FrameRate": (768, "<I"), "CFA": (808, "<I"), "RealBPP": (896, "<I")}
SETUP_MIN_LENGTH = 772  # up to FrameRate
COMPRESSION = {0: "gray/interpolated", 1: "JPEG", 2: "raw"}
PACKED_BITS = {0: None, 256: 10, 1024: 12}  # bitmap compression -> bits of a packed pixel


def unpack_bits(data: np.ndarray, bits: int) -> np.ndarray:
    """Big-endian packed pixels (uint8 stream) as uint16 codes: 10 bit (4 pixels in 5 bytes)
    or 12 bit (2 pixels in 3 bytes), high bits first."""
    group = 5 if bits == 10 else 3  # bytes of one group of pixels
    b = data.reshape(-1, group).astype(np.uint16)
    if bits == 12:
        first = (b[:, 0] << 4) | (b[:, 1] >> 4)
        return np.stack([first, ((b[:, 1] & 0x0F) << 8) | b[:, 2]], axis=1).ravel()
    return np.stack([(b[:, 0] << 2) | (b[:, 1] >> 6), ((b[:, 1] & 0x3F) << 4) | (b[:, 2] >> 4),
                     ((b[:, 2] & 0x0F) << 6) | (b[:, 3] >> 2), ((b[:, 3] & 0x03) << 8) | b[:, 4]],
                    axis=1).ravel()


def _setup(data: bytes, name: str) -> int | bytes:
    offset, fmt = SETUP_FIELDS[name]
    return struct.unpack_from(fmt, data, offset)[0]


class CineReader(MappedFrames):
    """Frames of a Phantom ``.cine`` file, streamed batch by batch from mapped windows.

    Raises
    ------
    VmicError
        A damaged or truncated header (wrong marks, offsets past the end of the file, sizes
        that do not add up), JPEG compression or an unknown packing of pixels.
    """

    container_fps = None

    def __init__(self, path: Path):
        self.path = path
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(CINE_HEADER.size)
            if len(head) < CINE_HEADER.size:
                self._damaged("shorter than its 44-byte header")
            (mark, header_size, compression, _, _, _, first_no, count, off_bitmap, off_setup,
             off_offsets, _, _) = CINE_HEADER.unpack(head)
            if mark != b"CI" or header_size != CINE_HEADER.size:
                self._damaged("no CINE file mark ('CI', 44-byte header)")
            if compression not in (0, 2):
                raise VmicError(f"{path}: {COMPRESSION.get(compression, compression)} "
                                "compression is not read; save the cine uncompressed")
            if count < 1 or max(off_bitmap + BITMAP_HEADER.size, off_setup + SETUP_MIN_LENGTH,
                                off_offsets + 8 * count) > size:
                self._damaged(f"its header points past the end of the file ({count} images)")
            handle.seek(off_bitmap)
            (_, width, height, _, bits, bitmap_compression, *_) = BITMAP_HEADER.unpack(
                handle.read(BITMAP_HEADER.size))
            handle.seek(off_setup)
            setup = handle.read(min(1024, size - off_setup))
            handle.seek(off_offsets)
            self._offsets = np.fromfile(handle, dtype="<i8", count=count).astype(np.int64)
        if _setup(setup, "Mark") != b"ST":
            self._damaged("no SETUP mark ('ST')")
        self._packed = PACKED_BITS.get(bitmap_compression, -1)
        if self._packed == -1 or bits not in (8, 16, 24, 48) or (self._packed and bits != 16):
            raise VmicError(f"{path}: {bits}-bit pixels with bitmap compression "
                            f"{bitmap_compression} are not read; save the cine with 8- or "
                            "16-bit pixels")
        if width < 1 or height == 0:
            self._damaged(f"frames of {width}x{height} px")
        self.n_frames = count
        self.shape = (abs(height), width)
        self._bottom_up = height > 0 and not self._packed
        self._channels = 3 if bits in (24, 48) else 1
        self._dtype = np.dtype(np.uint8 if bits in (8, 24) else "<u2")
        self.bytes_per_pixel = bits // 8  # as read: packed pixels are unpacked to 16 bit
        self._check_images(size)
        self._set_rate_and_metadata(setup, compression, first_no)

    def _damaged(self, why: str):
        raise VmicError(f"{self.path}: damaged CINE header: {why}")

    def _check_images(self, size: int) -> None:
        offsets = self._offsets
        if (offsets < 0).any() or (offsets >= size).any() or (np.diff(offsets) <= 0).any():
            self._damaged("its image offsets are not increasing offsets inside the file")
        # The annotation of the first image gives the layout of all (Phantom writes one size).
        with open(self.path, "rb") as handle:
            handle.seek(int(offsets[0]))
            (annotation,) = struct.unpack("<I", handle.read(4))
            if annotation < 8 or offsets[0] + annotation > size:
                self._damaged(f"an image annotation of {annotation} bytes")
            handle.seek(int(offsets[0]) + annotation - 4)
            (image_bytes,) = struct.unpack("<I", handle.read(4))
        h, w = self.shape
        row = w * self._packed // 8 if self._packed else w * self.bytes_per_pixel
        # Packed rows hold whole groups of pixels (4 at 10 bit, 2 at 12 bit).
        group = {10: 4, 12: 2}.get(self._packed, 1)
        if image_bytes < h * row or image_bytes % h or w % group:
            self._damaged(f"images of {image_bytes} bytes for {w}x{h} px at "
                          f"{self._packed or 8 * self.bytes_per_pixel} bit")
        self._annotation, self._image_bytes = annotation, image_bytes
        self._row_bytes, self._row_used = image_bytes // h, row
        check_frame_count(self.path, f"its {self.n_frames} images", size,
                          int(offsets[-1]) + annotation + image_bytes)

    def _set_rate_and_metadata(self, setup: bytes, compression: int, first_no: int) -> None:
        rate = _setup(setup, "FrameRate") or _setup(setup, "FrameRate16")
        self.stated_rate = StatedRate(float(rate), "header", f"{self.path.name}: FrameRate")
        length = _setup(setup, "Length")
        real_bpp = _setup(setup, "RealBPP") if length >= 900 and len(setup) >= 900 else 0
        stored_bits = 8 * self._dtype.itemsize
        if self._packed:
            stored_bits = self._packed
        self.metadata = frame_metadata(
            "cine", self._dtype, bit_depth=real_bpp if 0 < real_bpp <= stored_bits else stored_bits,
            codec="cine " + COMPRESSION[compression],
            pixel_format=("bgr" if self._channels == 3 else "mono") + str(stored_bits)
            + (" packed" if self._packed else ""))
        self.metadata.update(first_image_no=first_no)

    def read_frames(self, first: int, n: int) -> np.ndarray:
        """Frames ``first`` .. ``first + n - 1`` as stored, from one mapped window."""
        start = int(self._offsets[first])
        stop = int(self._offsets[first + n - 1]) + self._annotation + self._image_bytes
        window = file_window(self.path, start, stop - start)
        h, w = self.shape
        out = np.empty((n, h, w, self._channels), dtype=self._dtype.newbyteorder("="))
        for k, offset in enumerate(self._offsets[first : first + n]):
            at = int(offset) - start + self._annotation
            rows = np.frombuffer(window[at : at + self._image_bytes], dtype=np.uint8)
            rows = rows.reshape(h, self._row_bytes)[:, : self._row_used]
            if self._packed:
                image = unpack_bits(rows.ravel(), self._packed).reshape(h, w, 1)
            else:
                image = rows.copy().view(self._dtype).reshape(h, w, self._channels)
            out[k] = image[::-1] if self._bottom_up else image
        del window
        return out[..., 0] if self._channels == 1 else out

