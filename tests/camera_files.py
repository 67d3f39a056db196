"""Small camera files for the tests: Photron MRAW/CIH (through pyMRAW, and 12-bit packed by
hand) and Phantom CINE (the documented header bytes, written here)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from vmic.io.cine import BITMAP_HEADER, CINE_HEADER, SETUP_FIELDS

SETUP_LENGTH = 1024  # bytes written for the SETUP block (holds every field read)
ANNOTATION = 8  # annotation block: its size, then the image's size


def write_mraw(path: Path, frames: np.ndarray, *, bits: int = 16, fps=20000,
               info: dict | None = None) -> Path:
    """A CIH + MRAW pair (8, 12 or 16 bit, frames (T, H, W)); returns the CIH's path."""
    import pyMRAW

    info = {"Record Rate(fps)": fps, **(info or {})}
    if bits != 12:
        _, cih = pyMRAW.save_mraw(frames, str(path.with_suffix(".cih")), bit_depth=bits,
                                  info_dict=info)
        return Path(cih)
    # 12 bit: two pixels in three bytes, high nibbles first (as Photron packs them).
    _, cih = pyMRAW.save_mraw(np.zeros((1, 2, 2), np.uint16), str(path.with_suffix(".cih")),
                              bit_depth=16, info_dict={**info, "Color Bit": 12,
                                                       "Total Frame": len(frames),
                                                       "Image Height": frames.shape[1],
                                                       "Image Width": frames.shape[2]})
    flat = frames.astype(np.uint16).ravel()
    a, b = flat[0::2], flat[1::2]
    packed = np.stack([a >> 4, ((a & 15) << 4) | (b >> 8), b & 255], axis=1).astype(np.uint8)
    path.with_suffix(".mraw").write_bytes(packed.tobytes())
    return Path(cih)


def write_cihx(path: Path, frames: np.ndarray, *, fps=50000, skip: int = 1) -> Path:
    """A CIHX (Photron's XML header, after a text line) + 16-bit MRAW pair."""
    n, h, w = frames.shape
    xml = f"""<cih>
    <fileInfo><date>2026/1/1</date><time>00:00</time></fileInfo>
    <deviceInfo><deviceName>test</deviceName></deviceInfo>
    <imageFileInfo><fileFormat>Mraw</fileFormat></imageFileInfo>
    <imageDataInfo>
        <resolution><width>{w}</width><height>{h}</height></resolution>
        <colorInfo><type>Mono</type><bit>16</bit></colorInfo>
        <effectiveBit><depth>12</depth><side>Lower</side></effectiveBit>
    </imageDataInfo>
    <frameInfo><recordedFrame>{n * skip}</recordedFrame><totalFrame>{n}</totalFrame>
        <startFrame>0</startFrame><skipFrame>{skip}</skipFrame></frameInfo>
    <basicInfo><comment></comment></basicInfo>
    <recordInfo><recordRate>{fps}</recordRate><shutterSpeed>{fps}</shutterSpeed></recordInfo>
    <playbackInfo><skipFrame>99</skipFrame></playbackInfo>
</cih>
"""
    path.write_text("!!! This file can not be edited. !!!\n" + xml, encoding="utf-8")
    frames.astype("<u2").tofile(path.with_suffix(".mraw"))
    return path


def pack(frame: np.ndarray, bits: int) -> bytes:
    """Pixels as Phantom packs them, high bits first: 10 bit (4 in 5 bytes), 12 (2 in 3)."""
    v = frame.astype(np.uint16).ravel()
    if bits == 12:
        a, b = v[0::2], v[1::2]
        out = [a >> 4, ((a & 15) << 4) | (b >> 8), b & 255]
    else:
        a, b, c, d = v[0::4], v[1::4], v[2::4], v[3::4]
        out = [a >> 2, ((a & 3) << 6) | (b >> 4), ((b & 15) << 4) | (c >> 6),
               ((c & 63) << 2) | (d >> 8), d & 255]
    return np.stack(out, axis=1).astype(np.uint8).tobytes()


def write_cine(path: Path, frames: np.ndarray, *, fps: int = 10000, bottom_up: bool = True,
               frame_rate16: int = 0, mark: bytes = b"CI", packed: int | None = None) -> Path:
    """A Phantom CINE of frames (T, H, W) uint8/uint16 or (T, H, W, 3) (BGR); ``packed``
    10 or 12 writes packed raw pixels (bitmap compression 256 or 1024, rows top-down)."""
    n, h, w = frames.shape[:3]
    channels = frames.shape[3] if frames.ndim == 4 else 1
    bits = 8 * frames.dtype.itemsize * channels
    off_bitmap = CINE_HEADER.size
    off_setup = off_bitmap + BITMAP_HEADER.size
    off_offsets = off_setup + SETUP_LENGTH
    image_bytes = h * w * channels * frames.dtype.itemsize if not packed else h * w * packed // 8
    first_image = off_offsets + 8 * n
    offsets = [first_image + k * (ANNOTATION + image_bytes) for k in range(n)]
    header = CINE_HEADER.pack(mark, CINE_HEADER.size, 2 if packed else 0, 1, 0, n, -5, n,
                              off_bitmap, off_setup, off_offsets, 0, 0)
    bitmap = BITMAP_HEADER.pack(BITMAP_HEADER.size, w, h if bottom_up else -h, 1, bits,
                                {None: 0, 10: 256, 12: 1024}[packed], image_bytes, 0, 0, 0, 0)
    setup = bytearray(SETUP_LENGTH)
    for name, value in (("FrameRate16", frame_rate16), ("Mark", b"ST"),
                        ("Length", SETUP_LENGTH), ("FrameRate", fps), ("RealBPP", 12 if bits
                                                                       == 16 else bits)):
        offset, fmt = SETUP_FIELDS[name]
        struct.pack_into(fmt, setup, offset, value)
    with open(path, "wb") as out:
        out.write(header + bitmap + bytes(setup))
        out.write(np.array(offsets, dtype="<i8").tobytes())
        for frame in frames:
            out.write(struct.pack("<II", ANNOTATION, image_bytes))
            if packed:
                out.write(pack(frame, packed))
                continue
            stored = frame[::-1] if bottom_up else frame
            out.write(np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes())
    return path
