"""Run a call into a wrapped RD package and translate what it prints, warns and raises into cteimpact's terms.

The reference packages (rdrobust, rddensity, rdpower, rdlocrand) print progress and notes on stdout, raise bare
``Exception``/``ValueError`` with their own wording, and emit plain ``UserWarning``. :func:`call_reference` runs
one call with stdout captured, its warnings recorded, and its exceptions translated by a caller-supplied table of
message patterns into typed cteimpact errors. Printed lines come back as notes; recorded warnings are re-issued as
cteimpact warning classes.
"""

from __future__ import annotations

import contextlib
import io
import re
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from cteimpact.errors import CteImpactError, CteImpactWarning, DesignError, EstimationError, SmallSampleWarning

__all__ = ["CUTOFF_OUTSIDE_RANGE", "DESIGN_RULES", "CallOutcome", "ErrorRule", "MassPointsWarning",
           "ReferencePackageWarning", "call_reference", "import_quietly"]

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
    messages: list[str] = []
    for w in caught:
        if issubclass(w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            continue
        text = " ".join(str(w.message).split())
        messages.append(text)
        if issubclass(w.category, CteImpactWarning):
            warnings.warn(w.message, w.category, stacklevel=stacklevel)
        else:
            warnings.warn(f"{context}: {text}", _warning_class(text), stacklevel=stacklevel)
    return result, CallOutcome(notes, tuple(messages))


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
