"""The pixel and sample loops, compiled by numba.

These are the only loops vmic compiles: the pyramid's filter application
(:func:`gather_multiply`) and the phase reductions (:func:`reduce_phase`,
:func:`reduce_phase_flow`). They are compiled on first use (a few seconds) and kept in
numba's own cache (``cache=True``), so later processes load them instead: in ``__pycache__``
beside this module, or, where the installed package is not writable, in numba's fallback,
a ``numba`` folder in the user's cache directory (``~/.cache/numba`` on Linux). The
environment variable ``NUMBA_CACHE_DIR`` overrides both. ``tests/test_kernels.py`` checks that
a read-only copy of the package caches in either place and loads from there.

Every kernel writes into arrays its caller allocates (outputs and scratch), so they never
allocate; with ``error_model="numpy"`` no operation in them raises. They release the GIL
(``nogil``), so the phase pass runs them on several threads at once.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["fast_atan2", "gather_multiply", "reduce_phase", "reduce_phase_flow", "FLUSH_ROWS"]

_OPTIONS = dict(nogil=True, cache=True, fastmath=True, error_model="numpy")

# atan(a) / a as a polynomial in a**2 on [0, 1] (least squares on Chebyshev nodes):
# max error 4.3e-8 rad in exact arithmetic, 3.3e-7 rad evaluated in float32 (measured),
# below the float32 phase noise of complex64 bands. float32 constants keep the whole
# evaluation in single precision: twice the SIMD lanes of float64 (measured 2.5x faster).
_ATAN_COEFFS = (0.999999249024686, -0.33329537772528556, 0.19943077996208433,
                -0.13892024481209161, 0.09601611809554177, -0.055381065563157666,
                0.021508800278883314, -0.003960127529153007)
_ATAN_COEFFS_F32 = tuple(np.float32(c) for c in _ATAN_COEFFS)
_PI_F32 = np.float32(np.pi)
_HALF_PI_F32 = np.float32(np.pi / 2)
_ZERO_F32 = np.float32(0.0)


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def fast_atan2(y, x):  # pragma: no cover - numba
    # Branch-free, so the pixel loop vectorises (libm's atan2 does not); atan2(0, 0) = 0.
    ax = abs(x)
    ay = abs(y)
    big = max(ax, ay)
    small = min(ax, ay)
    a = small / big if big > _ZERO_F32 else _ZERO_F32
    s = a * a
    c0, c1, c2, c3, c4, c5, c6, c7 = _ATAN_COEFFS_F32
    r = a * (c0 + s * (c1 + s * (c2 + s * (c3 + s * (c4 + s * (c5 + s * (c6 + s * c7)))))))
    r = _HALF_PI_F32 - r if ay > ax else r
    r = _PI_F32 - r if x < _ZERO_F32 else r
    return -r if y < _ZERO_F32 else r


@numba.njit(**_OPTIONS)
def gather_multiply(half, rows, mirror_rows, cols, conjugate, filters_re, filters_im,
                    out, scratch):  # pragma: no cover - numba
    # out[b, k, i, j] = X[b, rows[i], cols[j]] * filters[k, i, j], where X is the full
    # spectrum of a real frame, read from its half (rfft2) spectrum: a column past W/2 is
    # the complex conjugate of the mirrored frequency (Hermitian symmetry), i.e. the
    # mirrored row with its imaginary part negated. `half` (B, H, 2 (W/2+1)) and `out`
    # (B, K, h, 2 w) are interleaved real views of complex arrays, and each row of X is
    # gathered once into planar buffers (`scratch`, (2, w)), then multiplied by every
    # orientation's filter: the multiply loop vectorises (numba does not vectorise complex
    # loads), 2-3x faster.
    # Returns 0, or 1 (nothing written) when an index lies outside the spectrum or the
    # arrays' shapes do not match (the loops index them unchecked).
    n_batch, height, half_w2 = half.shape
    n_orient, h, w = filters_re.shape
    if (filters_im.shape != filters_re.shape or out.shape != (n_batch, n_orient, h, 2 * w)
            or scratch.shape[0] < 2 or scratch.shape[1] < w or rows.size < h
            or mirror_rows.size < h or cols.size < w or conjugate.size < w):
        return 1
    for i in range(h):
        if not (0 <= rows[i] < height and 0 <= mirror_rows[i] < height):
            return 1
    for j in range(w):
        if not 0 <= 2 * cols[j] + 1 < half_w2:
            return 1
    row_re = scratch[0]
    row_im = scratch[1]
    for job in range(n_batch * h):
        b = job // h
        i = job % h
        source = half[b, rows[i]]
        mirrored = half[b, mirror_rows[i]]
        for j in range(w):
            c = cols[j]
            if conjugate[j]:
                row_re[j] = mirrored[2 * c]
                row_im[j] = -mirrored[2 * c + 1]
            else:
                row_re[j] = source[2 * c]
                row_im[j] = source[2 * c + 1]
        for k in range(n_orient):
            f_re = filters_re[k, i]
            f_im = filters_im[k, i]
            target = out[b, k, i]
            for j in range(w):
                target[2 * j] = row_re[j] * f_re[j] - row_im[j] * f_im[j]
                target[2 * j + 1] = row_re[j] * f_im[j] + row_im[j] * f_re[j]
    return 0


# The pixel loops below take the complex bands as interleaved real views (..., 2 w): numba
# does not vectorise loads of complex elements, but does vectorise the strided real loads
# (measured 1.6x faster). Each row's per-pixel terms are added to column accumulators
# (`columns`, in the bands' precision) over its whole width (one long vectorised loop);
# only when the tile row ends, or after FLUSH_ROWS rows, are the columns summed per tile
# segment, in float64, into the totals. Summing every row into its tile segments directly
# cost 4.1-5.7 ns per pixel (scalar sums over segments of 4-16 px: 192 x 192 frames, 12
# tiles across) against 2.1-2.4 ns this way, and a float32 column sum spans at most
# FLUSH_ROWS terms. The flow variant is a separate kernel on purpose: a run-time "with
# flow" branch inside the pixel loop stopped it vectorising (23 ns per pixel instead of 5).
FLUSH_ROWS = 16


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def _flush_columns(columns, col_edges, totals, b, k, ty):  # pragma: no cover - numba
    # totals[q, b, k, ty, tx] += sum of columns[q] over tile tx's columns; then zero them.
    for q in range(columns.shape[0]):
        for tx in range(col_edges.size - 1):
            total = 0.0
            for j in range(col_edges[tx], col_edges[tx + 1]):
                total += columns[q, j]
            totals[q, b, k, ty, tx] += total
    columns[:] = 0


@numba.njit(inline="always", error_model="numpy")
def _bad_tables(bands, reference, tile_rows, col_edges, totals,
                columns):  # pragma: no cover - numba
    # Whether the arrays' shapes disagree, a tile row lies outside the totals or the
    # column edges do not rise within the band's width: the loops index them unchecked.
    n_batch, n_orient, h, w2 = bands.shape
    width = w2 // 2
    n_tile_rows = totals.shape[3]
    if (reference.shape != (n_orient, h, w2) or tile_rows.size < h
            or totals.shape[0] < columns.shape[0] or totals.shape[1] != n_batch
            or totals.shape[2] != n_orient or columns.shape[1] < width):
        return True
    for i in range(h):
        if not 0 <= tile_rows[i] < n_tile_rows:
            return True
    if (col_edges.size < 2 or col_edges.size - 1 > totals.shape[4] or col_edges[0] < 0
            or col_edges[col_edges.size - 1] > width):
        return True
    for t in range(col_edges.size - 1):
        if col_edges[t + 1] < col_edges[t]:
            return True
    return False


@numba.njit(**_OPTIONS)
def reduce_phase(bands, reference, tile_rows, col_edges, totals,
                 columns):  # pragma: no cover - numba
    # bands: (B, K, h, 2w) and reference: (K, h, 2w), real views of complex arrays.
    # totals: (3, B, K, TY, TX) float64, the weighted phase, amplitude and energy sums.
    # columns: (3, w) scratch, zero on entry (left zero). Returns 0, or 1 (nothing added)
    # for tile indices outside the totals or the band, or arrays of mismatched shapes.
    n_batch, n_orient, h, w2 = bands.shape
    w = w2 // 2
    if columns.shape[0] != 3 or _bad_tables(bands, reference, tile_rows, col_edges, totals,
                                            columns):
        return 1
    weighted, amplitude, energy = columns[0], columns[1], columns[2]
    for job in range(n_batch * n_orient):
        b = job // n_orient
        k = job % n_orient
        pending = 0
        for i in range(h):
            row = bands[b, k, i]
            ref = reference[k, i]
            for j in range(w):
                cr, ci, rr, ri = row[2 * j], row[2 * j + 1], ref[2 * j], ref[2 * j + 1]
                # angle(c * conj(r)), wrapped to (-pi, pi]
                a2 = cr * cr + ci * ci
                weighted[j] += fast_atan2(ci * rr - cr * ri, cr * rr + ci * ri) * a2
                amplitude[j] += np.sqrt(a2)
                energy[j] += a2
            pending += 1
            if i + 1 == h or tile_rows[i + 1] != tile_rows[i] or pending == FLUSH_ROWS:
                _flush_columns(columns, col_edges, totals, b, k, tile_rows[i])
                pending = 0
    return 0


@numba.njit(**_OPTIONS)
def reduce_phase_flow(bands, reference, tile_rows, col_edges, flow_weights, totals,
                      columns):  # pragma: no cover - numba
    # As reduce_phase, with totals (5, B, K, TY, TX) and columns (5, w): also the x and y
    # flow sums, dphi times flow_weights (K, 2, h, w).
    n_batch, n_orient, h, w2 = bands.shape
    w = w2 // 2
    if (columns.shape[0] != 5 or flow_weights.shape[0] != n_orient or flow_weights.shape[1] != 2
            or flow_weights.shape[2] != h or flow_weights.shape[3] < w
            or _bad_tables(bands, reference, tile_rows, col_edges, totals, columns)):
        return 1
    weighted, amplitude, energy = columns[0], columns[1], columns[2]
    flow_x, flow_y = columns[3], columns[4]
    for job in range(n_batch * n_orient):
        b = job // n_orient
        k = job % n_orient
        pending = 0
        for i in range(h):
            row = bands[b, k, i]
            ref = reference[k, i]
            gx = flow_weights[k, 0, i]
            gy = flow_weights[k, 1, i]
            for j in range(w):
                cr, ci, rr, ri = row[2 * j], row[2 * j + 1], ref[2 * j], ref[2 * j + 1]
                a2 = cr * cr + ci * ci
                dphi = fast_atan2(ci * rr - cr * ri, cr * rr + ci * ri)
                weighted[j] += dphi * a2
                amplitude[j] += np.sqrt(a2)
                energy[j] += a2
                flow_x[j] += dphi * gx[j]
                flow_y[j] += dphi * gy[j]
            pending += 1
            if i + 1 == h or tile_rows[i + 1] != tile_rows[i] or pending == FLUSH_ROWS:
                _flush_columns(columns, col_edges, totals, b, k, tile_rows[i])
                pending = 0
    return 0
