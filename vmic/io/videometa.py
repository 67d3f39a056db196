"""What a video stream says about its frames beyond the pixels: bit depth, whether its codec
is lossless, a phone's slow-motion capture rate, and the luma plane of deep YUV frames.
"""

from __future__ import annotations

import math

import numpy as np

from vmic.io.rate import StatedRate

__all__ = ["bit_depth", "is_deep_yuv", "luma_plane", "codec_lossless", "capture_fps_tag",
           "CAPTURE_FPS_TAGS"]

# Codecs that never lose information, and those that always do.
LOSSLESS_CODECS = frozenset(["ffv1", "rawvideo", "huffyuv", "ffvhuff", "utvideo", "png", "tiff",
                             "magicyuv", "qtrle", "r210", "v210", "v308", "v408", "v410",
                             "y41p", "yuv4", "zlib", "lagarith", "apng", "bmp", "gif"])
LOSSY_CODECS = frozenset(["mjpeg", "mpeg4", "mpeg2video", "mpeg1video", "msmpeg4v2",
                          "msmpeg4v3", "wmv1", "wmv2", "wmv3", "vc1", "theora", "vp8",
                          "prores", "dnxhd", "h263"])
# Metadata keys where phones store the capture rate of a slow-motion video.
CAPTURE_FPS_TAGS = ("com.android.capture.fps",)
# Semi-planar formats that keep their samples in the high bits of 16-bit words.
HIGH_BIT_FORMATS = {"p010le": 6, "p012le": 4, "p016le": 0, "p210le": 6, "p216le": 0,
                    "p410le": 6, "p416le": 0}


def bit_depth(pixel_format: str | None) -> int | None:
    """Bits per sample of a pixel format (``"yuv420p10le"`` -> 10), None if unknown."""
    if not pixel_format:
        return None
    import av

    try:
        return int(av.VideoFormat(pixel_format).components[0].bits)
    except (ValueError, IndexError):
        return None


def is_deep_yuv(pixel_format: str) -> bool:
    """A little-endian YUV format of more than 8 bits (10-bit HDR of phones among them)."""
    planar = pixel_format.startswith("yuv") and pixel_format.endswith("le")
    return (planar or pixel_format in HIGH_BIT_FORMATS) and (bit_depth(pixel_format) or 8) > 8


def luma_plane(frame) -> np.ndarray:
    """The luma (Y) plane of a deep YUV frame as stored, uint16 (H, W), e.g. 0-1023 at 10 bit.

    Converting to 8-bit colour would drop the low bits, which hold sub-pixel motion.
    """
    plane = frame.planes[0]
    words = np.frombuffer(memoryview(plane), dtype="<u2")
    luma = words.reshape(-1, plane.line_size // 2)[: plane.height, : plane.width]
    shift = HIGH_BIT_FORMATS.get(frame.format.name, 0)
    return (luma >> shift if shift else luma).astype(np.uint16)  # a copy in native order


def codec_lossless(codec: str | None, profile: str | None) -> bool | None:
    """True for a lossless codec, False for a lossy one, None where the stream does not say.

    H.264 is lossy except in its lossless mode, which needs the "High 4:4:4 Predictive"
    profile (reported unknown). HEVC's lossless mode is allowed in every profile, so an HEVC
    stream is unknown; so are codecs not listed here.
    """
    if codec in LOSSLESS_CODECS:
        return True
    if codec in LOSSY_CODECS:
        return False
    if codec == "h264":
        profile = (profile or "").lower()
        return None if ("4:4:4" in profile or not profile) else False
    return None


def capture_fps_tag(container, stream, path) -> StatedRate | None:
    """A phone's slow-motion capture rate from the container's metadata, if it wrote one."""
    for tags in (container.metadata, stream.metadata):
        for key in CAPTURE_FPS_TAGS:
            if key in tags:
                try:
                    fps = float(str(tags[key]).strip())
                except ValueError:
                    continue
                if math.isfinite(fps):
                    return StatedRate(fps, "metadata", f"{path.name}: {key}")
    return None
