"""The numba kernels against plain numpy, their refusal of bad index tables, and their cache."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vmic.core import kernels
from vmic.core.phase import frame_phase_sums, reference_bands, tile_grid
from vmic.core.pyramid import SteerablePyramid

ROOT = Path(__file__).resolve().parents[1]


def _random_bands(rng, shape, dtype=np.complex64):
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(dtype)


def _tile_tables(band_shape, tiles):
    rows, cols = tile_grid(band_shape, tiles)
    col_edges = np.searchsorted(cols, np.arange(tiles[1] + 1)).astype(np.int64)
    return rows, cols, col_edges


def _numpy_sums(bands, reference, rows, cols, tiles, flow_weights=None):
    # The sums the kernels compute, in float64 with numpy's exact angle: per tile,
    # sum(dphi A**2), sum(A), sum(A**2) (and sum(dphi gx), sum(dphi gy)).
    c = bands.astype(np.complex128)
    r = reference.astype(np.complex128)[None]
    dphi = np.angle(c * np.conj(r))
    a2 = np.abs(c) ** 2
    terms = [dphi * a2, np.sqrt(a2), a2]
    if flow_weights is not None:
        terms += [dphi * flow_weights[None, :, 0], dphi * flow_weights[None, :, 1]]
    n_batch, n_orient = bands.shape[:2]
    totals = np.zeros((len(terms), n_batch, n_orient) + tuple(tiles))
    scale = np.zeros_like(totals)  # sums of |term|: the size of a rounding error
    for ty in range(tiles[0]):
        for tx in range(tiles[1]):
            inside = (rows[:, None] == ty) & (cols[None, :] == tx)
            for q, term in enumerate(terms):
                totals[q, :, :, ty, tx] = term[..., inside].sum(axis=-1)
                scale[q, :, :, ty, tx] = np.abs(term[..., inside]).sum(axis=-1)
    return totals, scale


# Tiles (1, 1) exercise the flush after FLUSH_ROWS rows within one tile (h > 16); the
# others tile edges that fall inside the rows and columns; odd sizes the loops' tails.
CASES = [((37, 29), (1, 1)), ((37, 29), (3, 4)), ((20, 48), (5, 12)), ((1, 1), (1, 1))]


@pytest.mark.parametrize("flow", [False, True])
@pytest.mark.parametrize("band_shape,tiles", CASES)
def test_reduce_phase_matches_numpy(band_shape, tiles, flow):
    rng = np.random.default_rng(sum(band_shape) + 7 * tiles[1] + flow)
    n_batch, n_orient = 3, 2
    bands = _random_bands(rng, (n_batch, n_orient) + band_shape)
    reference = _random_bands(rng, (n_orient,) + band_shape)
    weights = rng.normal(size=(n_orient, 2) + band_shape).astype(np.float32) if flow else None
    rows, cols, col_edges = _tile_tables(band_shape, tiles)
    n_sums = 5 if flow else 3
    totals = np.zeros((n_sums, n_batch, n_orient) + tiles)
    columns = np.zeros((n_sums, band_shape[1]), dtype=np.float32)
    band_view = bands.view(np.float32)
    reference_view = reference.view(np.float32)
    if flow:
        status = kernels.reduce_phase_flow(band_view, reference_view, rows, col_edges, weights,
                                           totals, columns)
    else:
        status = kernels.reduce_phase(band_view, reference_view, rows, col_edges, totals,
                                      columns)
    assert status == 0
    assert not columns.any()  # the scratch is left zero
    expected, scale = _numpy_sums(bands, reference, rows, cols, tiles, weights)
    # float32 terms: each carries a relative rounding error of a few 1e-7 (the polynomial
    # atan2 is within 3.3e-7 rad of the exact angle, float32 products and square roots
    # round to 6e-8), and a float32 column sum of at most FLUSH_ROWS = 16 terms adds up to
    # 16 x 6e-8 = 1e-6 of their absolute sum; the tile sums are float64. 1e-5 of each
    # tile's absolute sum bounds all of it with margin and still catches a wrong pixel,
    # tile, sign or missing row (each of which is of the order of the sum itself).
    np.testing.assert_array_less(np.abs(totals - expected), 1e-5 * scale + 1e-12)
    assert np.abs(expected).max() > 0


def test_reduce_phase_angle_is_wrapped_and_weighted():
    # A known phase step: every pixel of the band is the reference turned by 3.0 rad
    # (near the wrap at pi) with amplitude 2, so the sums are exactly known.
    reference = np.exp(1j * np.linspace(-3, 3, 6 * 5)).reshape(1, 6, 5).astype(np.complex64)
    bands = (2 * reference * np.exp(3.0j)).astype(np.complex64)[None]
    rows, _, col_edges = _tile_tables((6, 5), (1, 1))
    totals = np.zeros((3, 1, 1, 1, 1))
    columns = np.zeros((3, 5), dtype=np.float32)
    assert kernels.reduce_phase(bands.view(np.float32), reference.view(np.float32), rows,
                                col_edges, totals, columns) == 0
    np.testing.assert_allclose(totals.ravel(), [3.0 * 4 * 30, 2 * 30, 4 * 30], rtol=1e-5)


def test_gather_multiply_matches_numpy_indexing():
    rng = np.random.default_rng(3)
    height, width, n_orient = 14, 11, 3
    frames = rng.normal(size=(2, height, width)).astype(np.float32)
    half = np.fft.rfft2(frames).astype(np.complex64)
    full = np.fft.fft2(frames.astype(np.float64))
    rows = rng.integers(0, height, size=7)
    cols = rng.integers(0, width, size=9)
    cols[:2] = [0, width - 1]  # a column of each half of the spectrum at least
    # A column past W/2 is read as the conjugate of the mirrored frequency (Hermitian).
    conjugate = cols > width // 2
    half_cols = np.where(conjugate, (width - cols) % width, cols).astype(np.int64)
    mirror_rows = ((height - rows) % height).astype(np.int64)
    filters = _random_bands(rng, (n_orient, rows.size, cols.size))
    out = np.empty((2, n_orient, rows.size, cols.size), dtype=np.complex64)
    scratch = np.empty((2, cols.size), dtype=np.float32)
    status = kernels.gather_multiply(half.view(np.float32), rows.astype(np.int64), mirror_rows,
                                     half_cols, conjugate, np.ascontiguousarray(filters.real),
                                     np.ascontiguousarray(filters.imag), out.view(np.float32),
                                     scratch)
    assert status == 0
    expected = full[:, rows[:, None], cols[None, :]][:, None] * filters[None]
    # One complex64 product per element: a relative error of a few float32 epsilons.
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def _gather_arguments(rows, cols, height=8, width=8):
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    half = np.ones((1, height, width // 2 + 1), dtype=np.complex64)
    filters = np.ones((1, rows.size, cols.size), dtype=np.float32)
    out = np.zeros((1, 1, rows.size, cols.size), dtype=np.complex64)
    return (half.view(np.float32), rows, rows.copy(), cols, np.zeros(cols.size, dtype=bool),
            filters, filters, out.view(np.float32), np.empty((2, cols.size), np.float32)), out


@pytest.mark.parametrize("rows,cols", [([0, 8], [0, 1]), ([-1, 0], [0, 1]),
                                       ([0, 1], [0, 5]), ([0, 1], [-1, 0])])
def test_gather_multiply_refuses_indices_outside_the_spectrum(rows, cols):
    arguments, out = _gather_arguments(rows, cols)
    assert kernels.gather_multiply(*arguments) == 1
    assert not out.any()  # nothing written


@pytest.mark.parametrize("tile_rows,col_edges", [
    ([0, 0, 2], [0, 4]),  # a tile row past the totals (TY = 2)
    ([0, -1, 1], [0, 4]),  # a negative tile row
    ([0, 1, 1], [0, 5]),  # a column edge past the band's width
    ([0, 1, 1], [0, 3, 2, 4]),  # column edges that fall back
    ([0, 1, 1], [0]),  # no tile at all
])
@pytest.mark.parametrize("flow", [False, True])
def test_reduce_phase_refuses_tiles_outside_the_totals(tile_rows, col_edges, flow):
    bands = np.ones((1, 1, 3, 4), dtype=np.complex64)
    reference = np.ones((1, 3, 4), dtype=np.complex64)
    n_sums = 5 if flow else 3
    totals = np.zeros((n_sums, 1, 1, 2, max(len(col_edges) - 1, 1)))
    columns = np.zeros((n_sums, 4), dtype=np.float32)
    arguments = [bands.view(np.float32), reference.view(np.float32),
                 np.asarray(tile_rows, dtype=np.int64), np.asarray(col_edges, dtype=np.int64)]
    if flow:
        status = kernels.reduce_phase_flow(*arguments, np.ones((1, 2, 3, 4), np.float32),
                                           totals, columns)
    else:
        status = kernels.reduce_phase(*arguments, totals, columns)
    assert status == 1
    assert not totals.any()  # nothing added


@pytest.mark.parametrize("wrong", ["reference", "columns", "totals_batch", "totals_tiles",
                                   "tile_rows", "flow_weights"])
def test_reduce_phase_refuses_mismatched_shapes(wrong):
    n_batch, n_orient, h, w = 2, 3, 5, 6
    bands = np.ones((n_batch, n_orient, h, w), dtype=np.complex64)
    reference = np.ones((n_orient + (wrong == "reference"), h, w), dtype=np.complex64)
    rows = np.zeros(h - (wrong == "tile_rows"), dtype=np.int64)
    col_edges = np.array([0, 3, w], dtype=np.int64)
    totals = np.zeros((5, n_batch + (wrong == "totals_batch"), n_orient, 1,
                       2 - (wrong == "totals_tiles")))
    columns = np.zeros((5, w - (wrong == "columns")), dtype=np.float32)
    weights = np.ones((n_orient, 2, h - (wrong == "flow_weights"), w), dtype=np.float32)
    assert kernels.reduce_phase_flow(bands.view(np.float32), reference.view(np.float32), rows,
                                     col_edges, weights, totals, columns) == 1
    if wrong != "flow_weights":
        assert kernels.reduce_phase(bands.view(np.float32), reference.view(np.float32), rows,
                                    col_edges, totals[:3], columns[:3]) == 1
    assert not totals.any()


def test_gather_multiply_refuses_mismatched_shapes():
    arguments, out = _gather_arguments([0, 1], [0, 1])
    narrow = list(arguments)
    narrow[8] = np.empty((2, 1), np.float32)  # scratch narrower than the level
    assert kernels.gather_multiply(*narrow) == 1
    short = list(arguments)
    short[7] = np.zeros((1, 1, 2, 2), np.float32)  # out narrower than the level
    assert kernels.gather_multiply(*short) == 1
    assert not out.any()


def test_callers_raise_value_error_on_a_refusal(monkeypatch):
    pyramid = SteerablePyramid((16, 16), 1, 2)
    frames = np.random.default_rng(0).random((2, 16, 16))
    reference = reference_bands(pyramid, frames[0])
    # An empty tile grid gives the kernel tile tables that fit no totals: it refuses.
    with pytest.raises(ValueError, match="tile rows outside"):
        frame_phase_sums(pyramid, reference, frames, tiles=(0, 1))
    spectra = pyramid.spectra(frames)
    # The pyramid's own index tables always fit; a refusal there is surfaced the same way.
    monkeypatch.setattr(kernels, "gather_multiply", lambda *args: 1)
    with pytest.raises(ValueError, match="outside the spectrum"):
        pyramid.scale_bands(spectra, 0)


def _without_write_override() -> list[str] | None:
    # The command prefix under which the read-only package is really read-only: none for a
    # user other than root; for root, setpriv without the capabilities that bypass file
    # permissions; None when that is not available.
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]


@pytest.mark.parametrize("where", ["NUMBA_CACHE_DIR", "fallback"])
def test_kernels_cache_outside_a_read_only_package(tmp_path, where):
    # numba writes its cache beside the module, or, where that is not writable, in its
    # user-wide fallback (~/.cache/numba on Linux); NUMBA_CACHE_DIR overrides both. With the
    # package read-only, the cache must land in the override or the fallback, nothing in the
    # package, and a second process must load the compiled kernel from it instead of
    # compiling again.
    prefix = _without_write_override()
    if where == "fallback" and (prefix is None or not sys.platform.startswith("linux")):
        pytest.skip("needs Linux and a package that is really read-only for this user")
    package = tmp_path / "site" / "vmic"
    shutil.copytree(ROOT / "vmic", package, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [package.parent, *package.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o555)
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "import numpy as np\n"
        "from vmic.core import kernels\n"
        "args, out = (np.zeros((1, 4, 6), np.float32), np.zeros(2, np.int64),"
        " np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(2, bool),"
        " np.ones((1, 2, 2), np.float32), np.ones((1, 2, 2), np.float32),"
        " np.zeros((1, 1, 2, 4), np.float32), np.zeros((2, 2), np.float32)), None\n"
        "assert kernels.gather_multiply(*args) == 0\n"
        "print(sum(kernels.gather_multiply.stats.cache_hits.values()))\n"
    )
    env = {key: value for key, value in os.environ.items()
           if key not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), PYTHONPATH=str(package.parent), PYTHONDONTWRITEBYTECODE="1")
    if where == "NUMBA_CACHE_DIR":
        cache = tmp_path / "numba-cache"
        env["NUMBA_CACHE_DIR"] = str(cache)
    else:
        cache = home / ".cache" / "numba"
    try:
        runs = [subprocess.run([*(prefix or []), sys.executable, "-c", script], env=env,
                               capture_output=True, text=True, cwd=tmp_path) for _ in range(2)]
    finally:
        for folder in [package.parent, *package.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert [run.stdout.split()[-1] for run in runs] == ["0", "1"]
    assert any(cache.rglob("*.nbi")) and any(cache.rglob("*.nbc"))
    assert not any(package.rglob("*.nbi"))
