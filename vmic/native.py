"""The compiled loops of :mod:`vmic.kernels`, without numba's start-up.

Importing numba and loading its cached functions took 0.7-1 s of every ``vmic recover``,
as long as processing an 1100-frame 192 x 192 clip: numba builds its whole typing and
lowering machinery (and imports ``scipy.linalg`` to look for BLAS) before it runs any
cached code. The loops themselves need none of that. So the first run on a machine
compiles the kernels' C-ABI entry points with numba (:func:`vmic.kernels.c_abi_functions`),
links them into one object file and stores it in a cache directory; later runs load that
machine code with llvmlite (numba's own LLVM binding, 40-50 ms to import) and call it
through ctypes, which releases the GIL as numba's ``nogil`` does. The results are the same
(the same LLVM code); tests compare the two paths.

The cache is keyed by the kernels' source, the numba, llvmlite and Python versions and
the host CPU, and checked by a SHA-256 of the object before it is loaded (a damaged one is
built again). Where anything fails (no writable cache directory, an unsupported platform,
a numba whose internals changed), or with ``VMIC_NATIVE=0``, the functions here run the
numba kernels instead: slower to start, same results. A failure is noted in the cache
directory (``vmic-kernels-KEY.failed``, with its reason) so that later runs with the same
versions go straight to numba's kernels (remove it to try again); :func:`status` gives
the reason. ``VMIC_CACHE_DIR`` sets the cache directory (default: ``__pycache__`` beside this module
when writable, as numba's own cache, else ``$XDG_CACHE_HOME/vmic``).

The functions below take the same arrays as the kernels (outputs included) and check
their dtypes, C-contiguity and shapes before passing pointers on.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import numpy as np

__all__ = ["gather_multiply", "reduce_phase", "reduce_phase_flow", "sosfilt_rows", "lfilter",
           "status", "cache_dir"]

_P = ctypes.c_void_p
_I = ctypes.c_int64
# Argument types of each entry point (pointers, then sizes), as in vmic.kernels.
_SIGNATURES = {
    "gather_multiply": (_P,) * 9 + (_I,) * 6,
    "reduce_phase": (_P,) * 6 + (_I,) * 6,
    "reduce_phase_flow": (_P,) * 7 + (_I,) * 6,
    "sosfilt_rows": (_P,) * 4 + (_I,) * 3,
    "lfilter": (_P,) * 5 + (_I,) * 2,
}
# Kernels that return a status: 0 done, 1 refused (an index outside its array).
_STATUS = ("gather_multiply", "reduce_phase", "reduce_phase_flow")
_FORMAT = 1  # bump when the layout of the cache files changes

_lock = threading.Lock()
_state: dict = {}


def _disabled() -> bool:
    return os.environ.get("VMIC_NATIVE", "1").strip().lower() in ("0", "false", "no", "off")


def cache_dir() -> Path:
    """Where the compiled kernels are stored (see the module notes)."""
    chosen = os.environ.get("VMIC_CACHE_DIR")
    if chosen:
        return Path(chosen)
    beside = Path(__file__).resolve().parent / "__pycache__"
    try:
        beside.mkdir(exist_ok=True)
        if os.access(beside, os.W_OK):
            return beside
    except OSError:
        pass
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vmic"


def _package_version_text(name: str) -> str:
    # The version file of an installed package, read without importing the package
    # (importing numba is what this module avoids).
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{name} is not installed")
    folder = Path(list(spec.submodule_search_locations)[0])
    return (folder / "_version.py").read_text(encoding="utf-8")


def _cache_key(llvm) -> str:
    source = (Path(__file__).resolve().parent / "kernels.py").read_bytes()
    parts = [
        str(_FORMAT), hashlib.sha256(source).hexdigest(), _package_version_text("numba"),
        _package_version_text("llvmlite"), sys.version, sys.platform,
        llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _build(llvm, obj_path: Path, manifest_path: Path) -> None:
    # Compile the C-ABI entry points with numba, link them into one module and store its
    # object code. Runs once per machine and version (a few seconds).
    from . import kernels

    functions = kernels.c_abi_functions()
    codegen = next(iter(functions.values()))._library.codegen
    module = None
    for function in functions.values():
        library = function._library
        library._ensure_finalized()
        part = library._final_module.clone()
        # Every definition but the entry point becomes weak, so that what two parts both
        # define (numba's small helpers) is kept once when they are linked.
        for item in list(part.functions) + list(part.global_variables):
            if (not item.is_declaration and item.name != function.native_name
                    and item.linkage == llvm.Linkage.external):
                item.linkage = "linkonce_odr"
        if module is None:
            module = part
        else:
            module.link_in(part)
    # Already optimised part by part: emitted as is (an optimisation pass over the linked
    # module could drop the weak definitions the entry points call).
    obj = codegen._tm.emit_object(module)
    defined = {f.name for f in module.functions if not f.is_declaration}
    # Symbols the object needs from outside: libc/libm, the Python C API, and numba's
    # runtime helpers (reached only on error paths, which these kernels do not have).
    external = sorted({f.name for f in module.functions if f.is_declaration
                       and not f.name.startswith("llvm.")}
                      | {g.name for g in module.global_variables if g.is_declaration})
    symbols = {name: function.native_name for name, function in functions.items()}
    missing = [s for s in symbols.values() if s not in defined]
    if missing:
        raise RuntimeError(f"entry points missing from the linked module: {missing}")
    manifest = {"format": _FORMAT, "sha256": hashlib.sha256(obj).hexdigest(),
                "symbols": symbols, "external": external}
    _write_atomic(obj_path, obj)
    _write_atomic(manifest_path, json.dumps(manifest).encode())


def _write_atomic(path: Path, data: bytes) -> None:
    # Written under a temporary name and renamed: a concurrent or interrupted build never
    # leaves a half file under the final name.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


# What numba's code calls only when a kernel raises or frees numba-allocated memory, which
# these kernels never do (no raising operation under error_model="numpy", no allocation).
_ERROR_PATH_SYMBOLS = ("NRT_Free", "NRT_MemInfo_call_dtor")
_ERROR_PATH_PREFIXES = ("numba_", "Py", "_Py")


def _bind_externals(llvm, names) -> None:
    """Give the loader an address for each symbol the object needs from outside.

    Symbols this process has (libc, libm, the Python C API) get their own address. The
    helpers of numba's runtime, which only error paths call, get ``abort``: were one ever
    called, the process would stop rather than run on with a wrong result. Anything else
    (e.g. numba's allocator, were a kernel changed to allocate) means the object cannot
    run without numba: RuntimeError, and the numba kernels are used instead.
    """
    # The symbols of the process and the libraries it loaded (the interpreter links libm).
    process = ctypes.CDLL(None)
    abort = ctypes.cast(process.abort, ctypes.c_void_p).value
    for name in names:
        if llvm.address_of_symbol(name):
            continue
        try:
            address = ctypes.cast(getattr(process, name), ctypes.c_void_p).value
        except AttributeError:
            address = None
        if address is None and (name in _ERROR_PATH_SYMBOLS
                                or name.startswith(_ERROR_PATH_PREFIXES)):
            address = abort
        if address is None:
            raise RuntimeError(f"the compiled kernels need {name}, which only numba provides")
        llvm.add_symbol(name, address)


class _Damaged(Exception):
    """The stored object or manifest is unreadable or does not match its checksum."""


def _load(llvm, obj_path: Path, manifest_path: Path) -> dict:
    try:
        manifest = json.loads(manifest_path.read_text())
        obj = obj_path.read_bytes()
        if (manifest.get("format") != _FORMAT
                or hashlib.sha256(obj).hexdigest() != manifest["sha256"]):
            raise _Damaged("stale or damaged compiled kernels")
        symbols, external = dict(manifest["symbols"]), list(manifest["external"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _Damaged(f"unreadable compiled kernels: {exc}") from exc
    _bind_externals(llvm, external)
    target = llvm.Target.from_default_triple()
    machine = target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=3, reloc="static", codemodel="jitdefault")
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    functions = {}
    for name, symbol in symbols.items():
        address = engine.get_function_address(symbol)
        if not address:
            raise RuntimeError(f"{name} not found in the compiled kernels")
        kernel = name.rsplit("_", 1)[0]
        status = ctypes.c_int64 if kernel in _STATUS else None
        functions[name] = ctypes.CFUNCTYPE(status, *_SIGNATURES[kernel])(address)
    functions["_engine"] = engine  # keeps the machine code mapped
    return functions


def _functions() -> dict | None:
    """The loaded entry points by name, or None where the numba kernels must be used."""
    if "functions" in _state:
        return _state["functions"]
    with _lock:
        if "functions" in _state:
            return _state["functions"]
        functions = None
        if not _disabled():
            try:
                import llvmlite.binding as llvm

                if sys.platform.startswith("linux") or sys.platform == "darwin":
                    llvm.initialize_native_target()
                    llvm.initialize_native_asmprinter()
                    key = _cache_key(llvm)
                    folder = cache_dir()
                    obj_path = folder / f"vmic-kernels-{key}.o"
                    manifest_path = folder / f"vmic-kernels-{key}.json"
                    failed_path = folder / f"vmic-kernels-{key}.failed"
                    if failed_path.exists():
                        # A build or load that failed for these versions and this CPU
                        # fails again: do not pay for it in every run.
                        raise RuntimeError(failed_path.read_text(errors="replace").strip())
                    try:
                        if not (obj_path.exists() and manifest_path.exists()):
                            _build(llvm, obj_path, manifest_path)
                        try:
                            functions = _load(llvm, obj_path, manifest_path)
                        except _Damaged:
                            _build(llvm, obj_path, manifest_path)  # build it again, once
                            functions = _load(llvm, obj_path, manifest_path)
                    except Exception as exc:
                        try:  # remembered until removed, or until a version changes
                            _write_atomic(failed_path,
                                          f"{type(exc).__name__}: {exc}".encode())
                        except OSError:
                            pass
                        raise
                    _state["path"] = str(obj_path)
                else:
                    _state["reason"] = f"not supported on {sys.platform}"
            except Exception as exc:  # any failure: the numba kernels still work
                if os.environ.get("VMIC_DEBUG"):
                    raise
                _state["reason"] = f"{type(exc).__name__}: {exc}"
                functions = None
        else:
            _state["reason"] = "VMIC_NATIVE=0"
        _state["functions"] = functions
        return functions


def status() -> dict:
    """Whether the compiled kernels are in use: ``{"native": bool, "path" or "reason"}``."""
    functions = _functions()
    out = {"native": functions is not None}
    out.update({k: v for k, v in _state.items() if k in ("path", "reason")})
    return out


def _kernels():
    from . import kernels

    return kernels


def _entry(kernel: str, dtype):
    # The loaded entry point of `kernel` for arrays of `dtype`, or None (use numba's).
    functions = _functions()
    if functions is None:
        return None
    suffix = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}.get(np.dtype(dtype))
    return None if suffix is None else functions.get(kernel + suffix)


def _check(array: np.ndarray, dtype, shape: tuple, name: str) -> None:
    if array.dtype != dtype or array.shape != tuple(shape) or not array.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous {np.dtype(dtype)} array of shape "
                         f"{tuple(shape)}, got {array.dtype} {array.shape}"
                         f"{'' if array.flags.c_contiguous else ' (not contiguous)'}")


def _ptr(array: np.ndarray) -> int:
    return array.ctypes.data


def gather_multiply(half, rows, mirror_rows, cols, conjugate, filters_re, filters_im, out):
    """``out[b, k, i, j] = X[b, rows[i], cols[j]] * filters[k, i, j]`` from half spectra.

    Parameters
    ----------
    half : ndarray of float32 or float64, shape (B, H, 2 (W // 2 + 1))
        Interleaved real view of the frames' rfft2 spectra.
    rows, mirror_rows : ndarray of int64, shape (h,)
    cols : ndarray of int64, shape (w,)
        Columns in the half spectrum.
    conjugate : ndarray of bool, shape (w,)
        Read the mirrored row's conjugate for these columns.
    filters_re, filters_im : ndarray, shape (K, h, w)
        Real and imaginary parts of the filters, the dtype of ``half``.
    out : ndarray, shape (B, K, h, 2 w)
        Written: interleaved real view of the complex products.
    """
    dtype = half.dtype
    n_orient, h, w = filters_re.shape
    n_batch, height, half_w2 = half.shape
    _check(half, dtype, half.shape, "half")
    for name, array, shape in (("rows", rows, (h,)), ("mirror_rows", mirror_rows, (h,)),
                               ("cols", cols, (w,))):
        _check(array, np.int64, shape, name)
    _check(conjugate, np.bool_, (w,), "conjugate")
    _check(filters_re, dtype, (n_orient, h, w), "filters_re")
    _check(filters_im, dtype, (n_orient, h, w), "filters_im")
    _check(out, dtype, (n_batch, n_orient, h, 2 * w), "out")
    scratch = np.empty((2, w), dtype)
    entry = _entry("gather_multiply", dtype)
    if entry is None:
        status = _kernels().gather_multiply(half, rows, mirror_rows, cols, conjugate,
                                            filters_re, filters_im, out, scratch)
    else:
        status = entry(_ptr(half), _ptr(rows), _ptr(mirror_rows), _ptr(cols), _ptr(conjugate),
                       _ptr(filters_re), _ptr(filters_im), _ptr(out), _ptr(scratch),
                       n_batch, height, half_w2, n_orient, h, w)
    if status:
        raise ValueError("row or column index outside the spectrum")


def _check_reduce(bands, reference, tile_rows, col_edges, totals, quantities):
    # Dtypes, shapes and contiguity here; the kernels check the tile indices themselves.
    n_batch, n_orient, h, w2 = bands.shape
    dtype = bands.dtype
    _check(bands, dtype, bands.shape, "bands")
    _check(reference, dtype, (n_orient, h, w2), "reference")
    _check(tile_rows, np.int64, (h,), "tile_rows")
    if col_edges.ndim != 1 or col_edges.size < 2:
        raise ValueError("col_edges: expected at least 2 edges")
    _check(col_edges, np.int64, col_edges.shape, "col_edges")
    ty, tx = totals.shape[-2], col_edges.size - 1
    _check(totals, np.float64, (quantities, n_batch, n_orient, ty, tx), "totals")
    return n_batch, n_orient, h, w2 // 2, ty, tx


_BAD_TILES = "tile rows outside the totals, or column edges that do not rise within the band"


def reduce_phase(bands, reference, tile_rows, col_edges, totals):
    """Add each tile's sum(dphi A**2), sum(A) and sum(A**2) to ``totals``.

    Parameters
    ----------
    bands : ndarray of float32 or float64, shape (B, K, h, 2 w)
        Interleaved real view of the complex bands.
    reference : ndarray, shape (K, h, 2 w)
        The same for the reference frame's bands.
    tile_rows : ndarray of int64, shape (h,)
        Tile row of each band row.
    col_edges : ndarray of int64, shape (TX + 1,)
        First column of each tile, then the width.
    totals : ndarray of float64, shape (3, B, K, TY, TX)
        Added to.
    """
    n_batch, n_orient, h, w, ty, tx = _check_reduce(bands, reference, tile_rows, col_edges,
                                                    totals, 3)
    columns = np.zeros((3, w), bands.dtype)
    entry = _entry("reduce_phase", bands.dtype)
    if entry is None:
        status = _kernels().reduce_phase(bands, reference, tile_rows, col_edges, totals,
                                         columns)
    else:
        status = entry(_ptr(bands), _ptr(reference), _ptr(tile_rows), _ptr(col_edges),
                       _ptr(totals), _ptr(columns), n_batch, n_orient, h, w, ty, tx)
    if status:
        raise ValueError(_BAD_TILES)


def reduce_phase_flow(bands, reference, tile_rows, col_edges, flow_weights, totals):
    """As :func:`reduce_phase`, also adding the x and y flow sums (``totals`` (5, ...)).

    Parameters
    ----------
    flow_weights : ndarray, shape (K, 2, h, w)
        The band's dtype; from :func:`vmic.phase.flow_weights`.
    """
    n_batch, n_orient, h, w, ty, tx = _check_reduce(bands, reference, tile_rows, col_edges,
                                                    totals, 5)
    _check(flow_weights, bands.dtype, (n_orient, 2, h, w), "flow_weights")
    columns = np.zeros((5, w), bands.dtype)
    entry = _entry("reduce_phase_flow", bands.dtype)
    if entry is None:
        status = _kernels().reduce_phase_flow(bands, reference, tile_rows, col_edges,
                                              flow_weights, totals, columns)
    else:
        status = entry(_ptr(bands), _ptr(reference), _ptr(tile_rows), _ptr(col_edges),
                       _ptr(flow_weights), _ptr(totals), _ptr(columns), n_batch, n_orient,
                       h, w, ty, tx)
    if status:
        raise ValueError(_BAD_TILES)


def sosfilt_rows(sos, x, zi):
    """Second-order-section filtering of each row of ``x`` (rows, T); ``zi`` is updated.

    Parameters
    ----------
    sos : ndarray of float64, shape (S, 6)
    x : ndarray of float64, shape (rows, T)
    zi : ndarray of float64, shape (rows, S, 2)

    Returns
    -------
    ndarray of float64, shape (rows, T)
    """
    n_rows, n = x.shape
    n_sections = sos.shape[0]
    _check(sos, np.float64, (n_sections, 6), "sos")
    _check(x, np.float64, (n_rows, n), "x")
    _check(zi, np.float64, (n_rows, n_sections, 2), "zi")
    y = np.empty_like(x)
    entry = _entry("sosfilt_rows", np.float64)
    if entry is None:
        _kernels().sosfilt_rows(sos, x, zi, y)
    else:
        entry(_ptr(sos), _ptr(x), _ptr(zi), _ptr(y), n_sections, n_rows, n)
    return y


def lfilter(b, a, x):
    """Causal IIR filter of ``x`` (T,) by ``b`` and ``a`` (float64, ``a[0] = 1``).

    Returns
    -------
    ndarray of float64, shape (T,)
    """
    size = max(b.size, a.size)
    b = np.pad(np.asarray(b, dtype=np.float64), (0, size - b.size))
    a = np.pad(np.asarray(a, dtype=np.float64), (0, size - a.size))
    x = np.ascontiguousarray(x, dtype=np.float64)
    _check(x, np.float64, (x.size,), "x")
    z = np.zeros(size)
    y = np.empty_like(x)
    entry = _entry("lfilter", np.float64)
    if entry is None:
        _kernels().lfilter(b, a, x, z, y)
    else:
        entry(_ptr(b), _ptr(a), _ptr(x), _ptr(z), _ptr(y), size, x.size)
    return y
