"""Run a call into a wrapped RD package and translate what it prints, warns and raises into cteimpact's terms.

The reference packages (rdrobust, rddensity, rdpower, rdlocrand) print progress and notes on stdout, raise bare
``Exception``/``ValueError`` with their own wording, and emit plain ``UserWarning``. :func:`call_reference` runs
one call with stdout captured, its warnings recorded, and its exceptions translated by a caller-supplied table of
message patterns into typed cteimpact errors. Printed lines come back as notes; recorded warnings are re-issued as
cteimpact warning classes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import threading
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from cteimpact.errors import CteImpactError, CteImpactWarning, DesignError, EstimationError, SmallSampleWarning

__all__ = ["CACHED_FUNCTIONS", "CUTOFF_OUTSIDE_RANGE", "DESIGN_RULES", "CallOutcome", "ErrorRule",
           "MassPointsWarning", "ReferencePackageWarning", "call_reference", "import_quietly", "reuse_reference_calls"]

T = TypeVar("T")


class MassPointsWarning(CteImpactWarning):
    """The running variable has many repeated values (mass points); rdrobust adjusts its bandwidth selection."""


class ReferencePackageWarning(CteImpactWarning):
    """A warning raised by a wrapped reference package, re-issued under cteimpact's warning hierarchy."""


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """Translate a wrapped package's exception whose message matches ``pattern`` into ``error`` with ``message``.

    ``message`` may use ``{msg}`` (the original message) and ``{context}`` (what cteimpact was doing).
    """

    pattern: str
    error: type[CteImpactError]
    message: str


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """Notes printed by the wrapped call and the warnings it raised (already re-issued)."""

    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def _warning_class(message: str) -> type[Warning]:
    low = message.lower()
    if "cluster" in low or "not enough" in low or "few" in low:
        return SmallSampleWarning
    if "mass point" in low:
        return MassPointsWarning
    return ReferencePackageWarning


PLOTTING_SUBMODULES: dict[str, tuple[tuple[str, str], ...]] = {
    "rdrobust": (("rdrobust.rdplot", "rdplot"), ("rdrobust.rdplot_rdrobust", "plot_rdrobust")),
    "rddensity": (("rddensity.rdplotdensity", "rdplotdensity"),),
}
"""Plotting submodules that a reference package imports in its ``__init__`` (they import plotnine and
matplotlib), with the function the package takes from each."""


def _load_plotting(module: str, attr: str) -> types.ModuleType:
    """The real plotting submodule ``module`` (imported now if a stand-in holds its place); the package keeps the
    function ``attr`` under its name, as a plain import of the package leaves it."""
    import importlib
    import sys

    if isinstance(sys.modules.get(module), _DeferredModule):
        del sys.modules[module]
        real = importlib.import_module(module)
        setattr(sys.modules[module.rpartition(".")[0]], attr, getattr(real, attr))
    return sys.modules[module]


class _DeferredModule(types.ModuleType):
    """Stands in for a reference package's plotting submodule until something of it is used."""

    def __init__(self, module: str, attr: str) -> None:
        super().__init__(module, f"``{module}``, imported when first used (it imports matplotlib).")
        self._deferred_attr = attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return getattr(_load_plotting(module, attr), attr)(*args, **kwargs)

        call.__name__ = call.__qualname__ = attr
        call.__doc__ = f"``{module}.{attr}``, imported on the first call (it imports matplotlib)."
        setattr(self, attr, call)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system probing the module (__path__...): not a use
            raise AttributeError(name)
        return getattr(_load_plotting(self.__name__, self._deferred_attr), name)


@contextlib.contextmanager
def _plotting_deferred(package: str) -> Iterator[None]:
    """While ``package`` is imported, its plotting submodules are stand-ins that import the real submodule when
    first used: importing (and fitting with) the package then does not import matplotlib."""
    import sys

    for module, attr in PLOTTING_SUBMODULES.get(package, ()):
        if module not in sys.modules:
            sys.modules[module] = _DeferredModule(module, attr)
    yield


def import_quietly(module: str) -> Any:
    """Import a reference package without letting it change the global warning filters, and without importing
    its plotting modules (:data:`PLOTTING_SUBMODULES`; their functions load them when called).

    rddensity calls ``warnings.simplefilter('ignore', FutureWarning)`` at import time; importing inside
    ``catch_warnings`` restores the caller's filters afterwards.
    """
    import importlib
    import sys

    package = module.partition(".")[0]
    deferred = _plotting_deferred(package) if package not in sys.modules else contextlib.nullcontext()
    with warnings.catch_warnings(), deferred:
        return importlib.import_module(module)


def call_reference(
    func: Callable[..., T],
    *args: Any,
    context: str,
    rules: Sequence[ErrorRule] = (),
    stacklevel: int = 3,
    **kwargs: Any,
) -> tuple[T, CallOutcome]:
    """Call ``func(*args, **kwargs)`` with stdout captured and exceptions translated.

    Parameters
    ----------
    func
        The reference package's function.
    context
        What cteimpact was doing, in words (``"rdrobust on outcome 'dropout'"``); it prefixes translated errors.
    rules
        Message patterns (regular expressions, case-insensitive) mapped to typed errors; the first match wins.
        Exceptions matching no rule become :class:`~cteimpact.errors.EstimationError`.
    stacklevel
        Passed to :func:`warnings.warn` when re-issuing the package's warnings.

    Returns
    -------
    result, outcome
        The function's return value and the notes/warnings it produced.
    """
    key = _cache_key(func, args, kwargs)
    cached = _CACHE.entries.get(key) if key is not None else None
    if cached is not None:
        return cached[0], _reissue(cached[1], cached[2], context=context, stacklevel=stacklevel + 1)
    buffer = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(buffer), np.errstate(all="ignore"):
                result = func(*args, **kwargs)
        except CteImpactError:
            raise
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # the wrapped packages raise bare Exception/ValueError/LinAlgError
            msg = " ".join(str(exc).split()) or type(exc).__name__
            for rule in rules:
                if re.search(rule.pattern, msg, flags=re.IGNORECASE):
                    raise rule.error(rule.message.format(msg=msg, context=context)) from exc
            if isinstance(exc, np.linalg.LinAlgError):
                raise EstimationError(
                    f"{context}: the local polynomial fit is numerically singular ({msg}); there are too few "
                    "distinct values of the running variable near the cutoff, or a covariate is constant there"
                ) from exc
            raise EstimationError(f"{context} failed: {type(exc).__name__}: {msg}") from exc
    notes = tuple(line.strip() for line in buffer.getvalue().splitlines() if line.strip())
    raised = tuple((w.message, w.category) for w in caught)
    if key is not None:
        _CACHE.entries[key] = (result, notes, raised)
    return result, _reissue(notes, raised, context=context, stacklevel=stacklevel + 1)


def _reissue(notes: tuple[str, ...], caught: tuple[tuple[Warning | str, type[Warning]], ...], *, context: str,
             stacklevel: int) -> CallOutcome:
    """Re-issue the warnings a call raised as cteimpact's (``stacklevel`` counted from this function's caller's
    caller, as :func:`call_reference` counts it) and gather the call's notes and warning texts."""
    messages: list[str] = []
    for message, category in caught:
        if issubclass(category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            continue
        text = " ".join(str(message).split())
        messages.append(text)
        if issubclass(category, CteImpactWarning):
            warnings.warn(message, category, stacklevel=stacklevel)
        else:
            warnings.warn(f"{context}: {text}", _warning_class(text), stacklevel=stacklevel)
    return CallOutcome(notes, tuple(messages))


class _ReferenceCache(threading.local):
    """The results of the reference calls made inside :func:`reuse_reference_calls` (per thread)."""

    def __init__(self) -> None:
        self.depth = 0
        self.entries: dict[tuple[Any, ...], tuple[Any, tuple[str, ...], tuple[Any, ...]]] = {}


_CACHE = _ReferenceCache()
CACHED_FUNCTIONS: frozenset[tuple[str, str]] = frozenset({("rdrobust.rdrobust", "rdrobust")})
"""``(module, name)`` of the reference functions whose calls :func:`reuse_reference_calls` reuses: pure functions of
their arguments, whose results the adapters only read."""


@contextlib.contextmanager
def reuse_reference_calls() -> Iterator[None]:
    """Inside the block, a call of a :data:`CACHED_FUNCTIONS` function with the same arguments as an earlier one
    (arrays equal byte for byte, the same options) returns the earlier call's result, its notes and its warnings
    (re-issued) without computing again. A run fits the same outcome on the same sample several times (the design,
    the equity analysis and the surrogate index each fit it); the results are those of a new call, bit for bit.
    The results are dropped when the outermost block ends."""
    _CACHE.depth += 1
    try:
        yield
    finally:
        _CACHE.depth -= 1
        if _CACHE.depth == 0:
            _CACHE.entries.clear()


def _cache_key(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """What identifies the call inside :func:`reuse_reference_calls`, or ``None`` (not cached)."""
    if _CACHE.depth == 0:
        return None
    name = (getattr(func, "__module__", None), getattr(func, "__qualname__", None))
    if name not in CACHED_FUNCTIONS:
        return None
    parts: list[Any] = [name]
    for label, value in [*enumerate(args), *sorted(kwargs.items())]:
        part = _argument_key(value)
        if part is None:
            return None
        parts.append((label, part))
    return tuple(parts)


def _argument_key(value: Any) -> Any:
    """A hashable stand-in of one argument equal for equal arguments (an array's type, shape and the SHA-256 of its
    bytes), or ``None`` for an argument of a type not compared.

    The digest reads the array's memory in place (no copy of its bytes); SHA-256 is computed by the processor's
    SHA extensions where it has them, twice as fast as BLAKE2b there (a run hashes every fit's data arrays)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return (type(value).__name__, repr(value))
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return None
        data = np.ascontiguousarray(value)
        return ("ndarray", data.dtype.str, data.shape, hashlib.sha256(data.data).digest())
    if isinstance(value, (tuple, list)):
        items = [_argument_key(v) for v in value]
        return None if any(i is None for i in items) else (type(value).__name__, tuple(items))
    return None


CUTOFF_OUTSIDE_RANGE = "{context}: the cutoff is not inside the range of the running variable ({msg})"
"""The message of a package's refusal of a cutoff outside the data (its wording differs between packages)."""

DESIGN_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(r"within the range of", DesignError, CUTOFF_OUTSIDE_RANGE),
    ErrorRule(r"not enough distinct|not enough variability|not enough observations", DesignError,
              "{context}: too few observations (distinct values of the running variable) near the cutoff to fit "
              "the local polynomials ({msg}); widen the bandwidth, lower the polynomial order or pool more data"),
    ErrorRule(r"first-stage variable has no variation", DesignError,
              "{context}: the treatment take-up never changes at the cutoff ({msg}); a fuzzy design is not "
              "identified, estimate the sharp (intention-to-treat) effect instead"),
)
"""Rules shared by the rdrobust-family adapters."""
