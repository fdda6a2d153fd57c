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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

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
    with threadpool_limits(limits=1, user_api="blas"):
        yield
