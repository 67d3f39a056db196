"""Tests of vmic.vibmap and ``vmic map``: the moving region lights up at its frequency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vmic.cli import main
from vmic.errors import VmicError
from vmic.vibmap import peak_strength, save_vibration_map, vibration_map

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

FPS = 200.0
FREQ_HZ = 37.0
N_FRAMES = 128
SHAPE = (48, 64)
# Moving rectangle (rows, cols), aligned to 8 px tiles: tiles rows 2-3, cols 3-5.
ROWS, COLS = slice(16, 32), slice(24, 48)
# A flat (featureless) strip: its phase is pure noise and must not light up.
FLAT_COLS = slice(0, 16)


def moving_rectangle_clip(seed: int = 0, amplitude_px: float = 0.05,
                          noise: float = 0.5) -> np.ndarray:
    """Random texture; one rectangle Fourier-shifted by amplitude * sin(2 pi f t) px along x.

    Returns float32 (T, H, W), grey levels around 128, plus white sensor noise.
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    h, w = SHAPE
    texture = gaussian_filter(rng.standard_normal((h, w)), 1.0) * 60 + 128
    texture[:, FLAT_COLS] = 128.0
    spectrum = np.fft.fft2(texture)
    kx = np.fft.fftfreq(w)[None, :]
    frames = np.empty((N_FRAMES, h, w), dtype=np.float32)
    for t in range(N_FRAMES):
        shift = amplitude_px * np.sin(2 * np.pi * FREQ_HZ * t / FPS)
        moved = np.real(np.fft.ifft2(spectrum * np.exp(-2j * np.pi * kx * shift)))
        frame = texture.copy()
        frame[ROWS, COLS] = moved[ROWS, COLS]
        frames[t] = frame + rng.normal(0.0, noise, (h, w))
    return frames


@pytest.fixture(scope="module")
def clip_frames():
    return moving_rectangle_clip()


@pytest.fixture(scope="module")
def vmap(clip_frames):
    return vibration_map(clip_frames, fps=FPS, tile_px=8)


def region_mask(vm) -> np.ndarray:
    ys = (vm.tile_edges_y[:-1] + vm.tile_edges_y[1:]) / 2
    xs = (vm.tile_edges_x[:-1] + vm.tile_edges_x[1:]) / 2
    inside_y = (ys >= ROWS.start) & (ys < ROWS.stop)
    inside_x = (xs >= COLS.start) & (xs < COLS.stop)
    return inside_y[:, None] & inside_x[None, :]


def test_map_geometry(vmap):
    assert vmap.tiles == (6, 8)
    assert vmap.strength.shape == vmap.frequency.shape == vmap.rms.shape == (6, 8)
    assert vmap.reference.shape == SHAPE and vmap.reference.dtype == np.float32
    assert vmap.tile_edges_y[0] == 0 and vmap.tile_edges_y[-1] == SHAPE[0]
    assert vmap.tile_edges_x[0] == 0 and vmap.tile_edges_x[-1] == SHAPE[1]
    assert vmap.freq_resolution_hz == pytest.approx(FPS / N_FRAMES)
    assert np.all(np.isfinite(vmap.strength)) and np.all(np.isfinite(vmap.frequency))


def test_strongest_tiles_in_moving_region_at_its_frequency(vmap):
    inside = region_mask(vmap)
    n_inside = int(inside.sum())
    assert n_inside == 6
    strongest = vmap.strongest(n_inside)
    for row, col, _, freq in strongest:
        assert inside[row, col], (row, col, vmap.strength)
        assert abs(freq - FREQ_HZ) <= vmap.freq_resolution_hz, freq
    # Every moving tile beats every still one, featureless ones included.
    assert vmap.strength[inside].min() > vmap.strength[~inside].max()


def test_featureless_tiles_stay_dark(vmap):
    flat = vmap.strength[:, :2]  # columns 0-15 px are flat grey + noise
    inside = region_mask(vmap)
    assert flat.max() < vmap.strength[inside].min() - 3.0


def test_rms_larger_where_it_moves(vmap):
    inside = region_mask(vmap)
    textured_still = ~inside
    textured_still[:, :2] = False
    assert np.median(vmap.rms[inside]) > 2 * np.median(vmap.rms[textured_still])


def test_peak_strength_on_known_spectra():
    n = 256
    freqs = np.fft.rfftfreq(n, 1 / 1000.0)
    rng = np.random.default_rng(0)
    t = np.arange(n) / 1000.0
    signal = np.sin(2 * np.pi * 123.0 * t) + 0.1 * rng.standard_normal(n)
    noise_only = rng.standard_normal(n)
    power = np.abs(np.fft.rfft(np.stack([signal, noise_only]) * np.hanning(n), axis=-1)) ** 2
    frequency, strength = peak_strength(freqs, power, (20.0, 500.0))
    assert abs(frequency[0] - 123.0) < (freqs[1] - freqs[0]) / 2
    assert strength[0] > 25.0
    assert strength[1] < 12.0
    # An all-zero spectrum is finite and scores 0 dB.
    _, zero = peak_strength(freqs, np.zeros_like(freqs), (20.0, 500.0))
    assert zero == 0.0
    with pytest.raises(VmicError, match="no FFT bin"):
        peak_strength(freqs, power, (600.0, 700.0))


def test_save_vibration_map_png(vmap, tmp_path):
    out = tmp_path / "map.png"
    save_vibration_map(out, vmap)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*part*"))


def test_vibration_map_bad_input(clip_frames):
    with pytest.raises(VmicError, match="fps"):
        vibration_map(clip_frames)
    with pytest.raises(VmicError, match="outside"):
        vibration_map(clip_frames, fps=FPS, roi=(40, 0, 64, 48))
    with pytest.raises(VmicError, match="larger than"):
        vibration_map(clip_frames, fps=FPS, tile_px=64)
    with pytest.raises(VmicError, match="at least 8 frames"):
        vibration_map(clip_frames[:5], fps=FPS)
    with pytest.raises(VmicError, match="max-freq"):
        vibration_map(clip_frames, fps=FPS, max_freq_hz=150.0)
    with pytest.raises(VmicError, match="featureless"):
        vibration_map(np.zeros((16, 32, 32), np.float32), fps=FPS)


def test_roi_downsample_origin(clip_frames):
    vm = vibration_map(clip_frames, fps=FPS, roi=(16, 8, 48, 32), downsample=2, tile_px=4)
    assert vm.origin == (16, 8) and vm.pixel_size == 2
    assert vm.reference.shape == (16, 24)
    assert vm.tiles == (4, 6)


@pytest.fixture(scope="module")
def npy_clip(tmp_path_factory, clip_frames):
    folder = tmp_path_factory.mktemp("mapclip")
    path = folder / "clip.npy"
    np.save(path, clip_frames)
    (folder / "clip.json").write_text(json.dumps({"fps": FPS}))
    return path


def test_cli_end_to_end(npy_clip, tmp_path, capsys):
    out = tmp_path / "map.png"
    data = tmp_path / "map.npz"
    rc = main(["map", str(npy_clip), "-o", str(out), "--tile", "8", "--data", str(data)])
    assert rc == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    err = capsys.readouterr().err
    assert "tile at" in err and "Hz" in err
    with np.load(data) as saved:
        assert saved["strength_db"].shape == (6, 8)
        row, col = np.unravel_index(np.argmax(saved["strength_db"]), (6, 8))
        assert abs(saved["frequency_hz"][row, col] - FREQ_HZ) <= FPS / N_FRAMES
        assert float(saved["fps"]) == FPS


def test_cli_quiet_prints_only_what_it_wrote(npy_clip, tmp_path, capsys):
    rc = main(["map", str(npy_clip), "-o", str(tmp_path / "m.svg"), "--quiet"])
    assert rc == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"vmic: wrote {tmp_path / 'm.svg'}:")
    assert (tmp_path / "m.svg").stat().st_size > 0


@pytest.mark.parametrize("extra, message", [
    (["--roi", "40,0,64,48"], "outside"),
    (["--tile", "100"], "larger than"),
    (["--max-freq", "500"], "max-freq"),
])
def test_cli_bad_input_exit_2_one_line(npy_clip, tmp_path, capsys, extra, message):
    out = tmp_path / "bad.png"
    rc = main(["map", str(npy_clip), "-o", str(out), "--quiet"] + extra)
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vmic: error:") and message in err
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_cli_bad_output_suffix(npy_clip, tmp_path, capsys):
    rc = main(["map", str(npy_clip), "-o", str(tmp_path / "map.jpg"), "--quiet"])
    assert rc == 2
    assert "must end in" in capsys.readouterr().err


@pytest.mark.shared
@pytest.mark.slow
def test_guitar_strings_light_up():
    clip = SHARED / "real" / "guitar.mp4"
    if not clip.is_file():
        pytest.skip("../shared/real/guitar.mp4 is absent")
    vm = vibration_map(clip, fps=600.0, tile_px=8, max_freq_hz=200.0)
    strongest = vm.strongest(10)
    # Strings: low E 82.4 Hz, A 110 Hz (this recording reads ~1.5 % flat: 81 and 108.5 Hz).
    on_strings = [f for _, _, _, f in strongest if min(abs(f - 82.4), abs(f - 110.0)) < 4.0]
    assert len(on_strings) >= 6, strongest
    assert strongest[0][2] > np.median(vm.strength) + 10.0
