"""The compiled kernels loaded without numba (vmic.native) against numba's own (vmic.kernels)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vmic import kernels, native
from vmic.phase import tile_grid

# Where the machine-code copy is expected to work: the platforms CI runs on.
NATIVE_EXPECTED = sys.platform.startswith("linux") and os.environ.get("VMIC_NATIVE", "1") != "0"


@pytest.fixture(scope="module")
def native_in_use():
    state = native.status()
    if not state["native"]:
        if NATIVE_EXPECTED:
            pytest.fail(f"compiled kernels unavailable on Linux: {state.get('reason')}")
        pytest.skip(f"compiled kernels unavailable here: {state.get('reason')}")
    return state


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def _reduce_inputs(rng, n_batch=3, n_orient=2, h=37, w=29, tiles=(4, 5)):
    bands = rng.standard_normal((n_batch, n_orient, h, 2 * w)).astype(np.float32)
    reference = rng.standard_normal((n_orient, h, 2 * w)).astype(np.float32)
    rows, cols = tile_grid((h, w), tiles)
    col_edges = np.searchsorted(cols, np.arange(tiles[1] + 1)).astype(np.int64)
    flow = rng.standard_normal((n_orient, 2, h, w)).astype(np.float32)
    return bands, reference, rows, col_edges, flow, tiles


def test_reduce_phase_matches_numba(native_in_use):
    rng = np.random.default_rng(0)
    bands, reference, rows, col_edges, _, (ty, tx) = _reduce_inputs(rng)
    ours = np.zeros((3, 3, 2, ty, tx))
    native.reduce_phase(bands, reference, rows, col_edges, ours)
    theirs = np.zeros_like(ours)
    kernels.reduce_phase(bands, reference, rows, col_edges, theirs,
                         np.zeros((3, bands.shape[-1] // 2), np.float32))
    assert np.abs(theirs).max() > 1.0  # the sums were made
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_reduce_phase_flow_matches_numba(native_in_use):
    rng = np.random.default_rng(1)
    bands, reference, rows, col_edges, flow, (ty, tx) = _reduce_inputs(rng)
    ours = np.zeros((5, 3, 2, ty, tx))
    native.reduce_phase_flow(bands, reference, rows, col_edges, flow, ours)
    theirs = np.zeros_like(ours)
    kernels.reduce_phase_flow(bands, reference, rows, col_edges, flow, theirs,
                              np.zeros((5, bands.shape[-1] // 2), np.float32))
    assert np.abs(theirs[3:]).max() > 1.0
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_gather_multiply_matches_numba(native_in_use):
    rng = np.random.default_rng(2)
    n_batch, height, width, n_orient, h, w = 2, 24, 30, 3, 12, 14
    half = rng.standard_normal((n_batch, height, 2 * (width // 2 + 1))).astype(np.float32)
    rows = rng.integers(0, height, h).astype(np.int64)
    mirror = ((height - rows) % height).astype(np.int64)
    cols = rng.integers(0, width // 2 + 1, w).astype(np.int64)
    conjugate = rng.random(w) < 0.5
    filters_re = rng.standard_normal((n_orient, h, w)).astype(np.float32)
    filters_im = rng.standard_normal((n_orient, h, w)).astype(np.float32)
    ours = np.full((n_batch, n_orient, h, 2 * w), np.nan, np.float32)
    native.gather_multiply(half, rows, mirror, cols, conjugate, filters_re, filters_im, ours)
    theirs = np.empty_like(ours)
    kernels.gather_multiply(half, rows, mirror, cols, conjugate, filters_re, filters_im,
                            theirs, np.empty((2, w), np.float32))
    np.testing.assert_array_equal(ours, theirs)


def test_iir_filters_match_numba(native_in_use):
    rng = np.random.default_rng(3)
    sos = np.array([[0.9, -1.8, 0.9, 1.0, -1.7, 0.75], [1.0, -1.0, 0.0, 1.0, -0.8, 0.0]])
    x = rng.standard_normal((4, 300))
    zi = rng.standard_normal((4, 2, 2))
    zi_theirs = zi.copy()
    ours = native.sosfilt_rows(sos, x, zi)
    theirs = np.empty_like(x)
    kernels.sosfilt_rows(sos, x, zi_theirs, theirs)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(zi, zi_theirs)  # the state is updated in place by both
    b, a = np.array([0.2, 0.3]), np.array([1.0, -0.5, 0.1])
    y = native.lfilter(b, a, x[0])
    expected = np.empty_like(x[0])
    kernels.lfilter(np.array([0.2, 0.3, 0.0]), a, x[0], np.zeros(3), expected)
    np.testing.assert_array_equal(y, expected)
    # And the filter itself: y[t] = 0.2 x[t] + 0.3 x[t-1] + 0.5 y[t-1] - 0.1 y[t-2].
    direct = np.zeros_like(y)
    for t in range(x.shape[1]):
        direct[t] = (0.2 * x[0, t] + (0.3 * x[0, t - 1] if t else 0.0)
                     + (0.5 * direct[t - 1] if t else 0.0)
                     - (0.1 * direct[t - 2] if t > 1 else 0.0))
    np.testing.assert_allclose(y, direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bad", ["dtype", "shape", "strided", "index"])
def test_bad_arrays_are_refused_before_the_loop(bad):
    rng = np.random.default_rng(4)
    bands, reference, rows, col_edges, _, (ty, tx) = _reduce_inputs(rng)
    totals = np.zeros((3, 3, 2, ty, tx))
    if bad == "dtype":
        reference = reference.astype(np.float64)
    elif bad == "shape":
        totals = np.zeros((3, 3, 2, ty, tx + 1))
    elif bad == "strided":
        bands = np.repeat(bands, 2, axis=0)[::2]
    else:
        rows = rows.copy()
        rows[-1] = ty  # past the last tile row
    with pytest.raises(ValueError):
        native.reduce_phase(bands, reference, rows, col_edges, totals)
    assert not totals.any()


@pytest.mark.parametrize("native_on", [True, False])
def test_gather_refuses_indices_outside_the_spectrum(native_on, monkeypatch):
    if not native_on:
        monkeypatch.setattr(native, "_entry", lambda kernel, dtype: None)
    rng = np.random.default_rng(5)
    half = rng.standard_normal((1, 8, 10)).astype(np.float32)  # H 8, W/2+1 = 5
    filters = np.ones((1, 2, 3), np.float32)
    out = np.zeros((1, 1, 2, 6), np.float32)
    good = dict(rows=np.array([0, 7]), mirror_rows=np.array([0, 1]), cols=np.array([0, 2, 4]))
    for name, bad in (("rows", np.array([0, 8])), ("mirror_rows", np.array([-1, 0])),
                      ("cols", np.array([0, 1, 5]))):
        arrays = {**good, name: bad}
        with pytest.raises(ValueError, match="outside the spectrum"):
            native.gather_multiply(half, arrays["rows"], arrays["mirror_rows"],
                                   arrays["cols"], np.zeros(3, bool), filters, filters, out)
        assert not out.any()
    native.gather_multiply(half, good["rows"], good["mirror_rows"], good["cols"],
                           np.zeros(3, bool), filters, filters, out)
    assert out.any()


def test_cache_is_built_once_then_loaded_without_numba(tmp_path):
    code = """
        import sys
        import numpy as np
        from vmic import native
        state = native.status()
        y = native.lfilter(np.array([1.0, 1.0]), np.array([1.0]), np.arange(4.0))
        print(state["native"], "numba" in sys.modules, "scipy" in sys.modules, y.tolist())
    """
    first = _run(code, VMIC_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == "True"
    objects = sorted(tmp_path.glob("vmic-kernels-*.o"))
    manifests = sorted(tmp_path.glob("vmic-kernels-*.json"))
    assert len(objects) == 1 and len(manifests) == 1
    assert not list(tmp_path.glob("*.tmp"))  # written under temporary names, renamed
    manifest = json.loads(manifests[0].read_text())
    assert set(manifest["symbols"]) >= {"gather_multiply_f32", "reduce_phase_flow_f32",
                                         "lfilter_f64"}
    second = _run(code, VMIC_CACHE_DIR=str(tmp_path))
    assert second.returncode == 0, second.stderr
    # Loaded: numba (and the scipy.linalg it imports) never imported.
    assert second.stdout.split() == ["True", "False", "False", "[0.0,", "1.0,", "3.0,", "5.0]"]


def test_damaged_cache_is_rebuilt(tmp_path):
    code = "from vmic import native; print(native.status()['native'])"
    assert _run(code, VMIC_CACHE_DIR=str(tmp_path)).stdout.strip() == "True"
    (obj,) = tmp_path.glob("vmic-kernels-*.o")
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0xFF
    obj.write_bytes(bytes(data))
    again = _run(code, VMIC_CACHE_DIR=str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "True"
    assert obj.read_bytes() != bytes(data)  # rebuilt, not loaded as it was


def test_disabled_falls_back_to_numba_with_the_same_results():
    code = """
        import numpy as np
        from vmic import native
        from vmic.iir import butter_highpass_sos, sosfiltfilt
        x = np.sin(np.arange(500) * 0.3) + np.arange(500) * 0.01
        y = sosfiltfilt(butter_highpass_sos(3, 0.1), x, 30)
        print(native.status()["native"], repr(float(y.sum())), repr(float(np.abs(y).max())))
    """
    on = _run(code).stdout.split()
    off = _run(code, VMIC_NATIVE="0").stdout.split()
    assert off[0] == "False"
    if NATIVE_EXPECTED:
        assert on[0] == "True"
    assert on[1:] == off[1:] and len(on) == 3


def test_recover_runs_without_importing_numba(native_in_use, tmp_path, sine_clip):
    frames, _, fps, _ = sine_clip
    clip = tmp_path / "clip.npy"
    np.save(clip, frames)
    out = tmp_path / "out.wav"
    code = f"""
        import sys
        from vmic.cli import main
        code = main(["recover", {str(clip)!r}, "--fps", "{fps}", "-o", {str(out)!r},
                     "--quiet"])
        print(code, "numba" in sys.modules, "scipy" in sys.modules)
    """
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "False", "False"]
    assert out.stat().st_size > 44


def test_external_symbols_are_bound_or_refused():
    # In a fresh interpreter without numba (whose import registers its own helpers).
    code = """
        import ctypes, sys
        import llvmlite.binding as llvm
        from vmic import native
        native._bind_externals(llvm, ["memcpy", "numba_gil_ensure", "NRT_Free"])
        libc = ctypes.CDLL(None)
        abort = ctypes.cast(libc.abort, ctypes.c_void_p).value
        print(llvm.address_of_symbol("memcpy") == ctypes.cast(libc.memcpy, ctypes.c_void_p).value,
              llvm.address_of_symbol("numba_gil_ensure") == abort,
              llvm.address_of_symbol("NRT_Free") == abort, "numba" in sys.modules)
        try:
            native._bind_externals(llvm, ["NRT_MemInfo_alloc_aligned"])
        except RuntimeError as exc:
            print("refused:", exc)
    """
    done = _run(code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # A C library function gets its own address; numba's error-path helpers get abort's.
    assert lines[0].split() == ["True", "True", "True", "False"]
    # numba's allocator is needed on normal paths: such an object is refused, not stubbed.
    assert lines[1].startswith("refused:") and "only numba provides" in lines[1]


def test_a_failed_build_is_remembered(tmp_path):
    # A build that fails (here: the kernels' source cannot be read) is not attempted again
    # in every run: the next run reads the noted reason and uses numba's kernels at once.
    code = """
        import sys
        from pathlib import Path
        from vmic import native
        if sys.argv[-1] == "break":
            native._build = lambda *a: (_ for _ in ()).throw(OSError("no compiler today"))
        state = native.status()
        print(state["native"], state.get("reason"))
    """
    first = subprocess.run([sys.executable, "-c", textwrap.dedent(code), "break"],
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "VMIC_CACHE_DIR": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == "False" and "no compiler today" in first.stdout
    (failed,) = tmp_path.glob("vmic-kernels-*.failed")
    assert "no compiler today" in failed.read_text()
    second = _run(code, VMIC_CACHE_DIR=str(tmp_path))  # _build intact, yet not tried
    assert second.stdout.split()[0] == "False" and "no compiler today" in second.stdout
    assert not list(tmp_path.glob("vmic-kernels-*.o"))
