"""Words for the Pay-for-Success part of a run: thresholds, payments, investors (used by the summary, the pricing
section, the limitations and the certificate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cteimpact.reporting.formatting import MISSING, format_money, format_number, format_percent
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections.context import ReportContext

__all__ = ["money", "outcome_name", "threshold_text", "thresholds"]


def money(ctx: ReportContext, x: Any, *, compact: bool = False, signed: bool = False) -> str:
    """An amount in the contract's currency."""
    return format_money(finite(x), compact=compact, signed=signed, currency=ctx.currency_symbol)


def outcome_name(name: Any) -> str:
    """A contract outcome's name for readers (``dropout_prevented`` → ``dropout prevented``)."""
    return str(name).replace("_", " ")


def thresholds(ctx: ReportContext) -> list[Mapping[str, Any]]:
    return [t for t in (ctx.run.pricing or {}).get("thresholds", []) or [] if isinstance(t, Mapping)]


def _amount(ctx: ReportContext, th: Mapping[str, Any]) -> str:
    at = finite(th.get("at"))
    if at is None:
        return MISSING
    if th.get("measure") == "relative":
        return format_percent(at) + " of the baseline"
    label = str(th.get("estimate") or "")
    return ctx.info_for_label(label).size(at) if label else format_number(at)


def threshold_text(ctx: ReportContext, th: Mapping[str, Any]) -> str:
    """``"a statistically significant improvement in dropout prevented (at least 3.6 percentage points)"``."""
    name = outcome_name(th.get("outcome"))
    amount = _amount(ctx, th)
    kind = th.get("kind")
    sig = " and statistically significant" if th.get("requires_significance") and kind != "significance" else ""
    if kind == "significance":
        return f"a statistically significant improvement in {name} (at least {amount} at the estimate's precision)"
    if kind == "tier":
        pay = finite(th.get("pay"))
        pays = f", paying {money(ctx, pay)}" if pay is not None else ""
        return f"tier {th.get('tier')} of {name}: an improvement of at least {amount}{sig}{pays}"
    return f"a minimum improvement in {name} of {amount}{sig}"
