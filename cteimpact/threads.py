"""One BLAS thread while cteimpact estimates, so that results do not depend on the machine's thread count.

OpenBLAS (and MKL) split some reductions across threads and add the partial sums in an order that depends on the
number of threads: dot products of vectors longer than about 10,000, products ``Xᵀy`` of a tall matrix and a
vector, and LU/Cholesky factorisations of matrices larger than about 100. The last bits of such results then
change with ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` or the number of cores, and so would a study's
``results.json``. The estimators' entry points therefore run under :func:`one_blas_thread`, which limits every
loaded BLAS library to one thread for the duration of the call (through ``threadpoolctl``) and restores the
previous setting afterwards. Numba kernels are not affected by it; the one parallel kernel
(:mod:`cteimpact.did.multiplier`) combines a fixed number of partial sums in a fixed order.

The limit is process-wide while it is in force: other Python threads of the same process calling BLAS at the same
time run single-threaded too.

Finding the loaded BLAS libraries (``threadpoolctl`` inspects every shared object of the process) costs several
milliseconds, so the :class:`threadpoolctl.ThreadpoolController` is built once and kept; it is rebuilt whenever
the number of shared objects loaded in the process has changed since (counted through ``dl_iterate_phdr`` where
the C library has it, else through the number of imported modules), so that a BLAS loaded later is limited too.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS/LAPACK to one thread inside the ``with`` block (or the decorated function).

    Examples
    --------
    >>> import numpy as np
    >>> with one_blas_thread():
    ...     x = np.ones(20_000) @ np.ones(20_000)
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield


_LOCK = threading.Lock()
_CACHE: dict[str, tuple[int, ThreadpoolController]] = {}


def _phdr_counter() -> object:
    """A ctypes callable counting the shared objects loaded in the process, or ``None`` where unavailable."""
    try:
        iterate = ctypes.CDLL(None).dl_iterate_phdr
    except (OSError, AttributeError):
        return None
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
    count = [0]

    def _one(info: int, size: int, data: int) -> int:
        count[0] += 1
        return 0

    callback = callback_type(_one)

    def loaded() -> int:
        count[0] = 0
        iterate(callback, None)
        return count[0]

    loaded.callback = callback  # type: ignore[attr-defined]  # keep the ctypes callback alive
    return loaded


_LOADED = _phdr_counter()


def _loaded_objects() -> int:
    """How many shared objects are loaded (or, without ``dl_iterate_phdr``, how many modules are imported)."""
    if _LOADED is not None:
        return int(_LOADED())  # type: ignore[operator]
    return len(sys.modules)


def _controller() -> ThreadpoolController:
    """The process's :class:`ThreadpoolController`, rebuilt when shared objects were loaded since the last call."""
    key = _loaded_objects()
    with _LOCK:
        cached = _CACHE.get("controller")
        if cached is None or cached[0] != key:
            cached = (key, ThreadpoolController())
            _CACHE["controller"] = cached
        return cached[1]
