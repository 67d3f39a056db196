"""Camera files: Photron MRAW/CIH, Phantom CINE and TIFF stacks, read as stored, with the
capture rate from their headers (and the refusals of damaged ones)."""

import importlib.util
import json
import sys
import warnings

import numpy as np
import pytest
from camera_files import write_cihx, write_cine, write_mraw

from vmic.cli import main
from vmic.errors import VmicError
from vmic.io.clip import open_clip

# The camera extra's libraries: tests that need one skip without it (CI installs it).
needs_pymraw = pytest.mark.skipif(importlib.util.find_spec("pyMRAW") is None,
                                  reason="pyMRAW (the cameras extra) is not installed")
needs_tifffile = pytest.mark.skipif(importlib.util.find_spec("tifffile") is None,
                                    reason="tifffile (the cameras extra) is not installed")
try:
    import tifffile
except ImportError:
    tifffile = None


def _frames(dtype, top, shape=(7, 6, 10), seed=0):
    return np.random.default_rng(seed).integers(0, top + 1, shape).astype(dtype)


def _read(clip, batch=3):
    return np.concatenate([frames for _, frames in clip.iter_batches(batch)])


@needs_pymraw
@pytest.mark.parametrize("bits,top", [(8, 255), (12, 4095), (16, 65535)])
def test_mraw_reads_as_stored_at_every_bit_depth(tmp_path, bits, top):
    # 5x3 px: a 12-bit frame of odd size starts mid-byte
    frames = _frames(np.uint8 if bits == 8 else np.uint16, top, (6, 3, 5) if bits == 12
                     else (7, 6, 10))
    cih = write_mraw(tmp_path / "a.cih", frames, bits=bits, fps=20000)
    with open_clip(cih) as clip:
        assert clip.capture_fps == 20000 and clip.fps_source == "header"
        # pyMRAW writes 16-bit files with "EffectiveBit Depth : 12", as cameras do
        assert clip.metadata["bit_depth"] == min(bits, 12)
        assert clip.metadata["lossless"] is True and clip.metadata["pixel_format"] == f"mono{bits}"
        np.testing.assert_array_equal(_read(clip), frames.astype(np.float32))
        for start in range(1, len(frames)):  # every batch boundary
            np.testing.assert_array_equal(_read(clip[start:], 2), frames[start:])
    # the .mraw itself opens through the header beside it
    assert open_clip(cih.with_suffix(".mraw")).n_frames == len(frames)


@needs_pymraw
def test_mraw_save_step_gives_the_effective_rate_and_says_so(tmp_path):
    cih = write_mraw(tmp_path / "s.cih", _frames(np.uint16, 4095), info={"Save Step": 4})
    with pytest.warns(UserWarning, match="save step 4 .* the clip's rate is 5000 fps"):
        clip = open_clip(cih)
    assert clip.capture_fps == 5000 and clip.metadata["save_step"] == 4


@needs_pymraw
def test_cihx_header_and_its_frame_skip(tmp_path):
    frames = _frames(np.uint16, 4095, (5, 4, 6))
    cihx = write_cihx(tmp_path / "x.cihx", frames, fps=50000, skip=5)
    with pytest.warns(UserWarning, match="save step 5 .* the clip's rate is 10000 fps"):
        clip = open_clip(cihx)
    assert (clip.capture_fps, clip.fps_source, clip.metadata["bit_depth"]) == (10000, "header", 12)
    np.testing.assert_array_equal(_read(clip, 2), frames.astype(np.float32))


@needs_pymraw
def test_rate_precedence_argument_sidecar_header(tmp_path):
    cih = write_mraw(tmp_path / "p.cih", _frames(np.uint8, 255), bits=8, fps=20000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a header's rate is no guess: no warning
        assert open_clip(cih).fps_source == "header"
        (tmp_path / "p.json").write_text(json.dumps({"fps": 12000}))
        clip = open_clip(cih)
        assert (clip.capture_fps, clip.fps_source) == (12000, "sidecar")
        clip = open_clip(cih, fps=9000)
        assert (clip.capture_fps, clip.fps_source) == (9000, "argument")


@needs_pymraw
def test_a_header_rate_of_zero_is_refused_unless_a_rate_is_given(tmp_path):
    cih = write_mraw(tmp_path / "z.cih", _frames(np.uint8, 255), bits=8, fps=0)
    with pytest.raises(VmicError, match=r"Record Rate\(fps\) is 0.*pass --fps"):
        open_clip(cih)
    assert open_clip(cih, fps=1000).capture_fps == 1000
    cine = write_cine(tmp_path / "z.cine", _frames(np.uint8, 255), fps=0)
    with pytest.raises(VmicError, match="FrameRate is 0"):
        open_clip(cine)


@needs_pymraw
def test_a_header_without_a_rate_needs_one(tmp_path):
    cih = write_mraw(tmp_path / "n.cih", _frames(np.uint8, 255), bits=8)
    cih.write_text("".join(line for line in cih.read_text().splitlines(keepends=True)
                           if not line.startswith("Record Rate")))
    with pytest.raises(VmicError, match="capture rate unknown"):
        open_clip(cih)
    assert open_clip(cih, fps=3000).fps_source == "argument"


@needs_pymraw
def test_mraw_missing_or_short_is_refused(tmp_path):
    frames = _frames(np.uint16, 4095)
    cih = write_mraw(tmp_path / "m.cih", frames)
    data = cih.with_suffix(".mraw")
    data.write_bytes(data.read_bytes()[:-10])
    with pytest.raises(VmicError, match="830 bytes where 7 frames of 10x6 px at 16 bit take 840"):
        open_clip(cih)
    data.unlink()
    with pytest.raises(VmicError, match="m.mraw is missing"):
        open_clip(cih)


@pytest.mark.parametrize("dtype,top", [(np.uint8, 255), (np.uint16, 4095)])
@pytest.mark.parametrize("bottom_up", [True, False])
def test_cine_reads_as_stored_top_down(tmp_path, dtype, top, bottom_up):
    frames = _frames(dtype, top, (9, 5, 7))
    cine = write_cine(tmp_path / "a.cine", frames, fps=25000, bottom_up=bottom_up)
    with open_clip(cine) as clip:
        assert (clip.capture_fps, clip.fps_source) == (25000, "header")
        assert clip.metadata["bit_depth"] == (8 if dtype == np.uint8 else 12)
        assert clip.frame_shape == (5, 7)
        np.testing.assert_array_equal(_read(clip, 4), frames.astype(np.float32))
        np.testing.assert_array_equal(clip[6], frames[6])


@pytest.mark.parametrize("bits", [10, 12])
def test_cine_packed_raw_is_unpacked_as_stored(tmp_path, bits):
    frames = _frames(np.uint16, 2**bits - 1, (5, 4, 8))
    cine = write_cine(tmp_path / "p.cine", frames, packed=bits)
    with open_clip(cine) as clip:
        assert clip.metadata["pixel_format"] == f"mono{bits} packed"
        np.testing.assert_array_equal(_read(clip, 2), frames.astype(np.float32))


def test_cine_colour_is_averaged_to_grey(tmp_path):
    frames = _frames(np.uint8, 255, (4, 6, 8, 3))
    with open_clip(write_cine(tmp_path / "c.cine", frames)) as clip:
        np.testing.assert_allclose(_read(clip), frames.mean(axis=3), rtol=1e-6)


def test_cine_old_frame_rate_field_is_the_fallback(tmp_path):
    cine = write_cine(tmp_path / "o.cine", _frames(np.uint8, 255), fps=0, frame_rate16=3000)
    assert open_clip(cine).capture_fps == 3000


def test_damaged_cine_headers_are_refused(tmp_path):
    frames = _frames(np.uint8, 255)
    bad_mark = write_cine(tmp_path / "m.cine", frames, mark=b"XX")
    with pytest.raises(VmicError, match="damaged CINE header: no CINE file mark"):
        open_clip(bad_mark)
    good = write_cine(tmp_path / "g.cine", frames)
    data = bytearray(good.read_bytes())
    short = tmp_path / "s.cine"
    short.write_bytes(bytes(data[:-5]))
    with pytest.raises(VmicError, match="s.cine holds .* bytes where its 7 images take"):
        open_clip(short)
    data[24:28] = (10**6).to_bytes(4, "little")  # OffImageHeader past the end
    (tmp_path / "o.cine").write_bytes(bytes(data))
    with pytest.raises(VmicError, match="points past the end of the file"):
        open_clip(tmp_path / "o.cine")
    (tmp_path / "tiny.cine").write_bytes(b"CI\x2c\x00")
    with pytest.raises(VmicError, match="shorter than its 44-byte header"):
        open_clip(tmp_path / "tiny.cine")


@needs_tifffile
def test_tiff_stack_of_16_bit_pages(tmp_path):
    frames = _frames(np.uint16, 65535, (6, 5, 9))
    tifffile.imwrite(tmp_path / "s.tif", frames, compression="zlib")
    with open_clip(tmp_path / "s.tif", fps=4000) as clip:
        assert clip.n_frames == 6 and clip.metadata["bit_depth"] == 16
        assert clip.metadata["lossless"] is True
        np.testing.assert_array_equal(_read(clip, 4), frames.astype(np.float32))


@needs_tifffile
def test_tiff_stack_with_mixed_sizes_is_refused(tmp_path):
    with tifffile.TiffWriter(tmp_path / "m.tif") as tif:
        tif.write(np.zeros((5, 9), np.uint16))
        tif.write(np.zeros((5, 9), np.uint16))
        tif.write(np.zeros((6, 9), np.uint16))
    with pytest.raises(VmicError, match="mixed sizes: page 2 holds 6x9 uint16"):
        open_clip(tmp_path / "m.tif", fps=1000)


@needs_pymraw
@needs_tifffile
def test_without_the_extra_vmic_names_it(tmp_path, monkeypatch):
    cih = write_mraw(tmp_path / "x.cih", _frames(np.uint8, 255), bits=8)
    tifffile.imwrite(tmp_path / "x.tif", np.zeros((2, 4, 4), np.uint8))
    monkeypatch.setitem(sys.modules, "pyMRAW", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "tifffile", None)
    for path in (cih, tmp_path / "x.tif"):
        with pytest.raises(VmicError, match=r'pip install "vmic\[cameras\]"'):
            open_clip(path, fps=1000)


def _bad_inputs(tmp_path):
    frames = _frames(np.uint16, 4095)
    short = write_mraw(tmp_path / "short.cih", frames)
    short.with_suffix(".mraw").write_bytes(b"\0" * 100)
    missing = write_mraw(tmp_path / "missing.cih", frames)
    missing.with_suffix(".mraw").unlink()
    cine = write_cine(tmp_path / "bad.cine", frames, mark=b"CX")
    with tifffile.TiffWriter(tmp_path / "mixed.tif") as tif:
        tif.write(np.zeros((5, 9), np.uint8))
        tif.write(np.zeros((4, 9), np.uint8))
    zero = write_mraw(tmp_path / "zero.cih", frames, fps=0)
    return [short, missing, cine, tmp_path / "mixed.tif", zero]


@needs_pymraw
@needs_tifffile
def test_bad_camera_files_end_in_one_error_line_and_no_output(tmp_path, capsys):
    for path in _bad_inputs(tmp_path):
        for argv in (["recover", str(path), "-o", str(tmp_path / "out.wav"), "--quiet"],
                     ["info", str(path)]):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith("vmic: error: "), err
            assert not (tmp_path / "out.wav").exists()


@needs_pymraw
def test_info_of_a_photron_file(tmp_path, capsys):
    cih = write_mraw(tmp_path / "i.cih", _frames(np.uint16, 4095, (6, 4, 6)), bits=12,
                     fps=50000, info={"Save Step": 2})
    assert main(["info", str(cih), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["frames"], info["width"], info["height"], info["bit_depth"]) == (6, 6, 4, 12)
    assert (info["fps"], info["fps_source"], info["lossless"]) == (25000, "header", True)
    assert info["duration_s"] == pytest.approx(6 / 25000) and info["codec"] == "mraw"
    assert any("save step 2" in note for note in info["notes"])
    assert main(["info", str(cih)]) == 0
    assert "25000 fps (from the header)" in capsys.readouterr().out
