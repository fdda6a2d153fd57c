"""Pricing a contract under estimation uncertainty: :func:`price_contract`.

The effects are drawn jointly from the estimates' sampling distribution (a seeded ``numpy.random.Generator``), the
contract is evaluated on every draw (vectorised, in fixed-size chunks) and at the centre of the distribution, and
the draws are summarised into a :class:`~cteimpact.pricing.results.PricingResults`.

Every draw's results are kept until they are summarised (quantiles need them all), so the memory a pricing needs
grows with the number of draws; :func:`check_draws_memory` counts it from the contract's sizes and refuses, before
anything is drawn, a number of draws that does not fit in the memory available.

Draws beyond what an outcome's scale allows
    The sampling distribution is normal (or t), so with a wide interval some draws of, say, a dropout effect would
    take the dropout rate below 0. Such a draw is priced at the bound (censored: the effect that takes the rate to
    exactly 0), not dropped: the distribution keeps its probabilities, and a payment is never computed for an
    impossible number of students. The share of draws beyond each bound is recorded with the estimate
    (``estimates[].p_draws_outside_admissible``) and, when not zero, in the notes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cteimpact.errors import OptionError
from cteimpact.limits import check_memory
from cteimpact.pricing.benefits import wsipp_benchmark
from cteimpact.pricing.contract import BENEFICIARIES, Contract, RateCard, Schedule, load_contract
from cteimpact.pricing.defaults import EconomicParameters
from cteimpact.pricing.engine import (
    CHUNK,
    CompiledContract,
    ThresholdSpec,
    closed_form_p_floor,
    closed_form_p_met,
    compile_contract,
)
from cteimpact.pricing.finance import IRRStatus
from cteimpact.pricing.results import PricingResults
from cteimpact.results.contract import HasSamplingDistribution
from cteimpact.threads import one_blas_thread

__all__ = ["DEFAULT_DRAWS", "DEFAULT_SEED", "MIN_DRAWS", "QUANTILES", "check_draws_memory", "draw_bytes",
           "price_contract"]

DEFAULT_DRAWS = 100_000
"""Monte Carlo draws when none are asked for (simulation error of a probability ≤ 0.0016)."""
MIN_DRAWS = 1000
"""Fewest Monte Carlo draws accepted."""
DEFAULT_SEED = 20240501
"""Seed used when none is given, so that a run is reproducible by default."""
QUANTILES = (0.05, 0.50, 0.95)
"""Quantiles reported for payments and IRRs (keys "5", "50", "95")."""
CURVE_POINTS = 201
MAX_LOSS_BASIS = ("what investors lose if no outcome payment is made, after guarantees: the most they can lose under "
                  "the contract's terms (capital at risk), which can exceed the largest loss among the simulated draws")
WRONG_POCKET_TOLERANCE = 0.01
"""A payor is flagged as paying more than its own benefit when its expected payment exceeds its expected benefit
by more than this share (ties within Monte Carlo noise and rounding are not flagged)."""


def _qkey(q: float) -> str:
    return f"{q * 100:g}"


def _quantiles(x: np.ndarray) -> dict[str, float | None]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {_qkey(q): None for q in QUANTILES}
    vals = np.quantile(x, QUANTILES)
    return {_qkey(q): float(v) for q, v in zip(QUANTILES, vals, strict=True)}


_SUMMARY_BYTES = 16
"""Margin for the working copies the summaries make (a quantile's copy, masks, differences), in bytes per draw:
they are made one at a time after the draws are evaluated, and the peak is reached while the results are kept
(measured in tests/pricing/test_pricing_limits.py)."""


def draw_bytes(contract: Contract) -> int:
    """Bytes of memory each Monte Carlo draw of ``contract`` needs: the drawn effects, every per-draw result kept
    for the summaries (payments, payors, thresholds, caps, investors, benefits) and the summaries' working copies.

    The count follows :func:`_collect`: 8-byte values for the effects (one per outcome, equity term and projected
    benefit stream), the payment total and NPV, the outcome amounts, the equity premiums paid (one per outcome,
    with a premium), three per payor (payment PV, nominal payment, benefit), the investors' receipts, IRR and
    residual, the total benefit and one per projected benefit stream, one per tranche and guarantee; one byte per
    threshold, cap, equity floor and IRR status; and a margin for the summaries' working copies (and the two
    working columns of :func:`_draw_means`). Fixed memory (the evaluation of one chunk of draws) comes on top.
    """
    n_out = len(contract.outcomes)
    n_payors = len(contract.payors)
    fin = contract.financing
    n_tranches = len(fin.tranches) if fin is not None else 0
    n_guarantees = len(fin.guarantees) if fin is not None else 0
    n_thresholds = 0
    for o in contract.outcomes:
        p = o.payment
        n_thresholds += len(p.tiers) if isinstance(p, Schedule) else 0
        n_thresholds += 1 if (p.min_effect is not None or (p.require_significance and not isinstance(p, Schedule))) \
            else 0
    n_caps = sum(int(getattr(o.payment, "cap_per_student", None) is not None) + int(o.payment.cap is not None)
                 for o in contract.outcomes)
    n_caps += int(contract.caps.per_student is not None) + int(contract.caps.project is not None)
    n_premiums = sum(getattr(o.payment, "equity_premium", None) is not None for o in contract.outcomes)
    streams = contract.benefits.streams if contract.benefits is not None else []
    n_own = sum(s.estimate is not None for s in streams)
    effects = n_out + n_premiums + len(contract.conditions) + n_own
    values = (effects + 2 + n_out + (n_out if n_premiums else 0) + 3 * n_payors + 3 + 1 + n_own
              + n_tranches + n_guarantees)
    flags = n_thresholds + n_caps + len(contract.conditions) + 1
    return 8 * values + flags + _SUMMARY_BYTES


def check_draws_memory(contract: Contract | Mapping[str, Any] | str | Path, draws: int) -> None:
    """Refuse ``draws`` Monte Carlo draws of ``contract`` that do not fit in the memory available now.

    Raises
    ------
    OptionError
        One line with the memory the draws need (draws × bytes per draw), the memory available and the largest
        number of draws that fits.
    """
    spec = load_contract(contract)
    per = draw_bytes(spec)
    values = -(-per // 8)
    check_memory(int(draws), 8 * values, items="draws", breakdown=f"{values} values × 8 bytes",
                 what="the pricing Monte Carlo", option="--draws, [pricing] draws",
                 fixed_bytes=CHUNK * 8 * 128, minimum=MIN_DRAWS)


def _collect(compiled: CompiledContract, draws: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Every draw's results (draws censored to the admissible effects, chunk by chunk), and the number of draws
    below and above each outcome's admissible effects; the means of the quantities only averaged are stored under
    ``mean:<name>`` (see :func:`_draw_means`)."""
    n = draws.shape[0]
    out: dict[str, np.ndarray] = {}
    below = np.zeros(len(compiled.outcomes), dtype=np.int64)
    above = np.zeros(len(compiled.outcomes), dtype=np.int64)
    for start in range(0, n, CHUNK):
        chunk, low, high = compiled.censor(draws[start:start + CHUNK])
        below += low
        above += high
        sc = compiled.evaluate(chunk)
        items = {
            "payment_total": sc.payment_total, "payment_npv": sc.payment_npv, "outcome_amounts": sc.outcome_amounts,
            "payor_pv": sc.payor_pv, "payor_nominal": sc.payor_nominal, "thresholds_met": sc.thresholds_met,
            "cap_terms": sc.cap_terms, "received": sc.received, "irr": sc.irr, "irr_status": sc.irr_status,
            "residual": sc.residual, "benefit_total": sc.benefits.sum(axis=1), "payor_benefit": sc.payor_benefit,
        }
        if any(o.premium is not None for o in compiled.outcomes):
            items["premium_amounts"] = sc.premium_amounts
        if compiled.floors:
            items["floor_met"] = sc.floor_met
        projected = [k for k, st in enumerate(compiled.streams) if st.projected]
        if projected:  # kept for their quantiles
            items["projected_benefits"] = sc.stream_benefits[:, projected]
        for name, arr in sc.tranche_received.items():
            items[f"tranche:{name}"] = arr
        for name, arr in sc.guarantee_paid.items():
            items[f"guarantee:{name}"] = arr
        for key, arr in items.items():
            arr = np.asarray(arr)
            if key not in out:  # allocate once, fill chunk by chunk
                out[key] = np.empty((n, *arr.shape[1:]), dtype=arr.dtype)
            out[key][start:start + arr.shape[0]] = arr
    out.update(_draw_means(compiled, draws, out))
    for arr in out.values():
        arr.setflags(write=False)
    return out, below, above


def _draw_means(compiled: CompiledContract, draws: np.ndarray, kept: Mapping[str, np.ndarray]
                ) -> dict[str, np.ndarray]:
    """Means over all the draws of what is only averaged, without keeping it per draw: each outcome's impact
    outcomes, their positive part and its gross outcomes (``mean:impact_units``, ``mean:impact_positive``,
    ``mean:gross_units``, as :class:`~cteimpact.pricing.engine.Scenario` counts them), and each benefit stream's
    present value (``mean:stream_benefits``). Computed on whole columns of the draws (censored as
    :meth:`~cteimpact.pricing.engine.CompiledContract.censor` does), so they do not depend on the chunk size,
    with two working columns at a time."""
    n_out = len(compiled.outcomes)
    students = compiled.contract.students
    impact, positive, gross = np.zeros(n_out), np.zeros(n_out), np.full(n_out, np.nan)
    g_mean: dict[int, float] = {}
    buf = np.empty(draws.shape[0])
    work = np.empty(draws.shape[0])
    for j, o in enumerate(compiled.outcomes):
        np.multiply(draws[:, o.column], o.sign, out=buf)
        g_lo, g_hi = o.improvement_bounds
        np.clip(buf, g_lo, g_hi, out=buf)
        g_mean[o.column] = float(buf.mean())
        impact[j] = g_mean[o.column] * students
        positive[j] = float(np.maximum(buf, 0.0, out=work).mean()) * students
        base = o.level_base
        if base is not None and 0 <= base <= 1:
            np.add(buf, base if o.sign > 0 else 1.0 - base, out=work)
            gross[j] = float(np.clip(work, 0.0, 1.0, out=work).mean()) * students
    streams = np.zeros(len(compiled.streams))
    projected = [k for k, st in enumerate(compiled.streams) if st.projected]
    for k, st in enumerate(compiled.streams):
        if st.projected:
            streams[k] = float(kept["projected_benefits"][:, projected.index(k)].mean())
        else:
            streams[k] = g_mean[st.column] * float(st.row.sum())  # the outcome's improvement, censored
    return {"mean:impact_units": impact, "mean:impact_positive": positive, "mean:gross_units": gross,
            "mean:stream_benefits": streams}


@one_blas_thread()
def price_contract(
    contract: Contract | Mapping[str, Any] | str | Path,
    estimates: HasSamplingDistribution | Sequence[HasSamplingDistribution],
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int | None = DEFAULT_SEED,
    labels: Mapping[str, str] | None = None,
    mde: Mapping[str, float] | None = None,
    economics: EconomicParameters | None = None,
) -> PricingResults:
    """Price a Pay-for-Success contract on estimated impacts and their uncertainty.

    Parameters
    ----------
    contract
        A :class:`~cteimpact.pricing.contract.Contract`, a contract TOML file, or a mapping (a contract embedded
        in an analysis specification).
    estimates
        Anything honouring the results contract (:class:`~cteimpact.results.HasSamplingDistribution`): a fitted
        RD or DiD result, a :class:`~cteimpact.results.ResultsRecord` read from a results JSON, an
        :class:`~cteimpact.results.ExternalEstimate`; or several of them (drawn as independent).
    draws
        Monte Carlo draws (at least 1,000, and no more than fit in the memory available: see
        :func:`check_draws_memory`).
    seed
        Seed of the ``numpy.random.Generator``; the same seed gives identical results.
    labels
        Contract estimate label → results label, when they differ.
    mde
        Minimum detectable effects from the design (outcome name → MDE in estimate units).
    economics
        Economic parameters (default: the shipped, documented defaults).

    Returns
    -------
    PricingResults
    """
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < MIN_DRAWS:
        raise OptionError(f"draws must be a whole number of at least {MIN_DRAWS:,}, got {draws!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        raise OptionError(f"seed must be a non-negative whole number, got {seed!r}")
    spec = load_contract(contract)
    check_draws_memory(spec, int(draws))
    compiled = compile_contract(spec, estimates, labels=labels, mde=mde, economics=economics)
    centre = compiled.evaluate(compiled.centre[None, :])
    _check_finite(compiled, centre.payment_total, "at the estimate")
    rng = np.random.default_rng(seed)
    sample = compiled.distribution.draw(int(draws), rng)
    mc, below, above = _collect(compiled, sample)
    _check_finite(compiled, mc["payment_total"], "in the Monte Carlo draws")
    return _summarise(compiled, mc, centre, int(draws), seed, outside=(below, above))


def _check_finite(compiled: CompiledContract, payments: np.ndarray, where: str) -> None:
    """Payments overflow only for estimates far outside any plausible scale (the contract's amounts are bounded)."""
    if bool(np.all(np.isfinite(payments))):
        return
    sizes = ", ".join(f"'{compiled.labels[o.column]}' = {o.centre:.3g} (standard error {o.se:.3g})"
                      for o in compiled.outcomes)
    raise OptionError(f"the contract's payments overflow {where} for the estimates {sizes}; check that each estimate "
                      "is in the units the contract states (a proportion for a binary outcome, dollars for earnings)")


def _centre_kind(centre: float, row: Any, centre_text: str) -> str:
    """Which point estimate the centre is: the results row's own estimate, a bias-corrected one, or another."""
    if row is not None and math.isfinite(row.estimate) and abs(centre - row.estimate) <= 1e-12 * max(
            1.0, abs(row.estimate)):
        return "reported_estimate"
    return "bias_corrected" if "bias-corrected" in centre_text.lower() else "distribution_centre"


def _bound(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _estimates(compiled: CompiledContract, n: int, outside: tuple[np.ndarray, np.ndarray],
               notes: list[str]) -> list[dict[str, Any]]:
    dist = compiled.distribution
    out = []
    for j, o in enumerate(compiled.outcomes):
        lab = dist.labels[o.column]
        row = compiled.estimates.get(lab)
        centre_text, scale_text = compiled.described.get(lab, (dist.centre, dist.scale))
        scale, scale_source = o.outcome.scale_used
        low, high = int(outside[0][j]), int(outside[1][j])
        if low or high:
            notes.append(f"{low + high:,} of the {n:,} draws of '{lab}' ({100 * (low + high) / n:.3g}%) fall outside "
                         f"the effects {o.outcome.name} allows ({scale}: between {_bound_text(o.lower)} and "
                         f"{_bound_text(o.upper)}); they are priced at the nearest bound")
        out.append({
            "outcome": o.outcome.name, "contract_estimate": o.outcome.estimate, "label": lab,
            "term": None if row is None else row.term, "direction": o.outcome.direction,
            "centre": o.centre, "centre_kind": _centre_kind(o.centre, row, centre_text),
            "centre_description": centre_text,
            "reported_estimate": None if row is None else row.estimate,
            "std_error": o.se, "std_error_description": scale_text,
            "reported_std_error": None if row is None else row.std_error,
            "ci_lower": None if row is None else row.ci_lower,
            "ci_upper": None if row is None else row.ci_upper, "ci_level": None if row is None else row.ci_level,
            "ci_type": None if row is None else row.ci_type,
            "mde": compiled.mde[o.outcome.name], "mde_source": compiled.mde_source[o.outcome.name],
            "units": o.outcome.units, "baseline": o.outcome.baseline, "scale": scale, "scale_source": scale_source,
            "admissible_effect": {"lower": _bound(o.lower), "upper": _bound(o.upper)},
            "p_draws_below_admissible": low / n, "p_draws_above_admissible": high / n,
            "p_draws_outside_admissible": (low + high) / n,
        })
    return out


def _bound_text(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else ("-inf" if x < 0 else "inf")


def _position(margin: float | None, z: float, *, reached: bool) -> str:
    """Where the estimate stands against a threshold's bound: its 1 - alpha interval wholly beyond it, wholly short
    of it, or straddling it (without a standard error, simply whether the estimate reaches it)."""
    if margin is None:
        return "clearly_beyond" if reached else "clearly_short"
    if margin >= z:
        return "clearly_beyond"
    if margin <= -z:
        return "clearly_short"
    return "within_uncertainty"


def _threshold_note(th: ThresholdSpec, entry: Mapping[str, Any]) -> str:
    """A sentence that is true whatever the case: the threshold against the MDE, and the estimate against it."""
    p_true = entry["p_met_if_true_at_threshold"]
    flip = " (a coin flip)" if 0.4 <= p_true <= 0.6 else ""
    text = (f"threshold {th.at:.4g} ({th.measure}) is below the evaluation's minimum detectable effect "
            f"{entry['mde']:.4g}: a program whose true effect sat at the threshold would meet the condition with "
            f"probability {p_true:.0%}{flip}, and its estimate would be significant with probability "
            f"{entry['power_at_threshold']:.0%}")
    margin = entry["estimate_margin_se"]
    pos = entry["estimate_position"]
    if pos == "clearly_beyond" and margin is not None:
        text += (f"; this estimate is {margin:.1f} standard errors beyond what the condition asks, so it is met in "
                 f"{entry['p_met']:.1%} of the draws")
    elif pos == "clearly_short" and margin is not None:
        text += (f"; this estimate is {-margin:.1f} standard errors short of what the condition asks (met in "
                 f"{entry['p_met']:.1%} of the draws)")
    else:
        text += (f"; this estimate is within the uncertainty of the condition, which is met in {entry['p_met']:.1%} "
                 "of the draws")
    return text


def _thresholds(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any) -> list[dict[str, Any]]:
    out = []
    met = mc["thresholds_met"]
    power = compiled.contract.evaluation.power
    for k, th in enumerate(compiled.thresholds):
        o = next(x for x in compiled.outcomes if x.outcome.name == th.outcome)
        p = float(met[:, k].mean())
        base = float(o.outcome.baseline) if (th.measure == "relative" and o.outcome.baseline) else 1.0
        mde_measure = compiled.mde[th.outcome] / base
        below = th.at < mde_measure
        bound = compiled.effective_bound(th)
        g_hat = o.sign * o.centre
        margin = (g_hat - bound) / o.se if o.se > 0 else None
        entry: dict[str, Any] = {
            "outcome": th.outcome, "estimate": th.estimate, "kind": th.kind, "tier": th.index, "at": th.at,
            "measure": th.measure, "at_effect": th.at_effect * o.sign, "at_improvement": th.at_effect,
            "pay": th.pay, "requires_significance": th.requires_significance,
            "bound_improvement": bound, "p_met": p,
            "p_met_closed_form": closed_form_p_met(compiled, th), "mde": mde_measure,
            "mde_improvement": compiled.mde[th.outcome], "power": power, "below_mde": bool(below),
            "met_at_estimate": bool(centre.thresholds_met[0, k]),
            "power_at_threshold": compiled.significance_power(th.outcome, th.at_effect),
            "power_at_estimate": compiled.significance_power(th.outcome, g_hat),
            "p_met_if_true_at_threshold": compiled.p_reach(th.outcome, bound, th.at_effect),
            "p_met_if_true_at_mde": compiled.p_reach(th.outcome, bound, compiled.mde[th.outcome]),
            "estimate_margin_se": margin, "estimate_position": _position(margin, o.z_crit, reached=g_hat >= bound),
        }
        if below:
            entry["note"] = _threshold_note(th, entry)
        out.append(entry)
    return out


def _caps(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any) -> tuple[list[dict[str, Any]],
                                                                                      dict[str, float | None]]:
    flags = mc["cap_terms"]
    caps = []
    for i, cap in enumerate(compiled.caps):
        name, beyond = compiled.cap_binds_beyond(i)
        caps.append({"path": cap.path, "kind": cap.kind, "outcome": cap.outcome, "limit": cap.limit,
                     "limit_total": cap.limit_total, "applies_to": cap.applies_to,
                     "p_binds": float(flags[:, i].mean()), "binds_at_estimate": bool(centre.cap_terms[0, i]),
                     "binds_beyond_outcome": name, "binds_beyond_effect": beyond})
    by_kind: dict[str, float | None] = {}
    for kind, key in (("payment_per_student", "payment_per_student"), ("outcome", "outcome_caps"),
                      ("per_student", "per_student"), ("project", "project")):
        cols = [i for i, cap in enumerate(compiled.caps) if cap.kind == kind]
        by_kind[key] = float(flags[:, cols].any(axis=1).mean()) if cols else None
    by_kind["any"] = float(flags.any(axis=1).mean()) if compiled.caps else None
    return caps, by_kind


def _payments(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any) -> dict[str, Any]:
    """The ``payments`` block: expected, quantiles and at-the-estimate totals, by outcome, and the caps."""
    pay = mc["payment_total"]
    caps, p_cap_binds = _caps(compiled, mc, centre)
    return {
        "expected": float(pay.mean()), "expected_npv": float(mc["payment_npv"].mean()),
        "quantiles": _quantiles(pay), "p_any": float((pay > 0).mean()),
        "at_estimate": float(centre.payment_total[0]), "npv_at_estimate": float(centre.payment_npv[0]),
        "by_year_at_estimate": centre.payments[0].tolist(),
        "by_outcome": {o.outcome.name: {"expected": float(mc["outcome_amounts"][:, j].mean()),
                                        "at_estimate": float(centre.outcome_amounts[0, j])}
                       for j, o in enumerate(compiled.outcomes)},
        "p_cap_binds": p_cap_binds,
        "caps": caps,
    }


def _outcomes_view(compiled: CompiledContract, centre: Any) -> dict[str, dict[str, Any]]:
    """The ``outcomes`` block: each outcome's attributable and gross outcomes and payment at the estimate."""
    outcomes_view = {}
    for j, o in enumerate(compiled.outcomes):
        gross = float(centre.gross_units[0, j])
        outcomes_view[o.outcome.name] = {
            "impact_outcomes": float(centre.impact_units[0, j]),
            "gross_outcomes": gross if math.isfinite(gross) else None,
            "payment_at_estimate": float(centre.outcome_amounts[0, j]),
            "basis": getattr(o.outcome.payment, "basis", None), "kind": o.outcome.payment.kind,
        }
    return outcomes_view


def _payor_benefit_entry(name: str, level: str, ppv: np.ndarray, pben: np.ndarray) -> dict[str, Any]:
    """A payor's net benefit, whether it pays more than its own benefit (the wrong-pockets problem) and a note."""
    e_pay, e_ben = float(ppv.mean()), float(pben.mean())
    entry: dict[str, Any] = {
        "net_benefit": e_ben - e_pay,
        "pays_more_than_benefit": bool(e_pay > e_ben + WRONG_POCKET_TOLERANCE * max(abs(e_pay), abs(e_ben))),
        "p_payment_exceeds_benefit": float((ppv > pben).mean()),
    }
    if level not in BENEFICIARIES:
        entry["note"] = f"a {level} payor has no benefit in the benefit–cost split"
    elif e_pay > e_ben:
        entry["note"] = (f"{name} is asked to pay {e_pay:,.0f} (expected PV) for a benefit to it of "
                         f"{e_ben:,.0f}: the wrong-pockets problem")
    return entry


def _payors(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any) -> dict[str, dict[str, Any]]:
    """The ``payors`` block: each payor's payments (expected, at the estimate, by year) and, with benefits, its
    benefit and net benefit."""
    payors = {}
    have_benefits = compiled.contract.benefits is not None
    by_year = compiled.payor_payments_by_year(centre)
    for i, name in enumerate(compiled.payor_names):
        ppv = mc["payor_pv"][:, i]
        pben = mc["payor_benefit"][:, i]
        level = compiled.payor_levels[i]
        entry: dict[str, Any] = {
            "level": level, "payment": float(ppv.mean()), "payment_nominal": float(mc["payor_nominal"][:, i].mean()),
            "payment_at_estimate": float(centre.payor_pv[0, i]),
            "payment_nominal_at_estimate": float(centre.payor_nominal[0, i]),
            "payment_by_year_at_estimate": by_year[name].tolist(),
            "benefit": float(pben.mean()) if have_benefits else None,
            "benefit_at_estimate": float(centre.payor_benefit[0, i]) if have_benefits else None,
        }
        if have_benefits:
            entry.update(_payor_benefit_entry(name, level, ppv, pben))
            entry["benefit_cost_ratio"] = float(pben.mean() / ppv.mean()) if ppv.mean() > 0 else None
            entry["benefit_by_stream_at_estimate"] = _payor_streams(compiled, i)
        payors[name] = entry
    return payors


def _stream_key(st: Any) -> str:
    """A benefit stream's name in results: its outcome, with its own estimate's label when it has one."""
    return f"{st.spec.outcome} ({st.spec.kind}, {st.label})" if st.projected else f"{st.spec.outcome} ({st.spec.kind})"


def _payor_streams(compiled: CompiledContract, i: int) -> dict[str, float]:
    """Payor ``i``'s benefit from each stream at the estimate (present value)."""
    level = compiled.payor_levels[i]
    if level not in BENEFICIARIES:
        return {}
    name = compiled.payor_names[i]
    frac = next(py.benefit_fraction for py in compiled.contract.payors if py.name == name)
    b = BENEFICIARIES.index(level)
    return {_stream_key(st): float(st.sign * compiled.centre[st.column] * st.row[b] * frac)
            for st in compiled.streams}


def _gvi_block(have: bool, gross: float, impact: float, paid_gross: float | None,
               paid_impact: float | None) -> dict[str, float | None]:
    """Gross and impact outcomes and plain rate-card payments, and the deadweight between them (gross ones None
    without the outcome's level without the program)."""
    return {"gross_outcomes": gross if have else None, "impact_outcomes": impact,
            "deadweight_outcomes": gross - impact if have else None,
            "gross_payment": paid_gross if have else None, "impact_payment": paid_impact,
            "deadweight_payment": (paid_gross - paid_impact if have and paid_gross is not None
                                   and paid_impact is not None else None)}


def _gross_vs_impact(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any) -> dict[str, Any]:
    """The ``gross_vs_impact`` block: for every outcome, the students achieving it (gross: the level without the
    program plus the effect, times the students served) next to the outcomes the program caused (impact: the
    effect times the students), and what a plain rate card at the contract's price would pay on each; their
    difference is the deadweight a payor would buy on a gross basis."""
    out: dict[str, Any] = {}
    for j, o in enumerate(compiled.outcomes):
        p = o.outcome.payment
        price = float(p.price) * p.years if isinstance(p, RateCard) else None
        gross_c, impact_c = float(centre.gross_units[0, j]), float(centre.impact_units[0, j])
        gross_m, impact_m = float(mc["mean:gross_units"][j]), float(mc["mean:impact_units"][j])
        impact_pos = float(mc["mean:impact_positive"][j])
        have = math.isfinite(gross_c)

        at = _gvi_block(have, gross_c, impact_c, None if price is None else price * gross_c,
                   None if price is None else price * max(impact_c, 0.0))
        exp = _gvi_block(have, gross_m if have else math.nan, impact_m,
                         None if price is None or not have else price * gross_m,
                         None if price is None else price * impact_pos)
        out[o.outcome.name] = {
            "kind": p.kind, "basis": getattr(p, "basis", None), "label": compiled.labels[o.column],
            "price_per_outcome": price,
            "price_note": ("the rate card's price times its years" if price is not None else
                           "not a rate card: outcomes counted, no price to apply"),
            "students": compiled.contract.students, "level_without_program": o.level_base,
            "level_source": o.level_source, "at_estimate": at, "expected": exp,
        }
    return out


def _equity(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any) -> dict[str, Any] | None:
    """The ``equity`` block: each equity premium (paid, P(paid)) and each equity floor (P(met), its closed form,
    met at the estimate)."""
    prem = [j for j, o in enumerate(compiled.outcomes) if o.premium is not None]
    if not prem and not compiled.floors:
        return None
    premiums = []
    for j in prem:
        o = compiled.outcomes[j]
        assert o.premium is not None and o.premium_column is not None  # noqa: S101 - listed above
        paid = mc["premium_amounts"][:, j]
        lab = compiled.labels[o.premium_column]
        premiums.append({
            "outcome": o.outcome.name, "group": o.premium.group, "label": lab, "rate": o.premium.rate,
            "share": o.premium.share, "priority_students": o.premium.share * compiled.contract.students,
            "group_centre": float(compiled.centre[o.premium_column]),
            "group_std_error": float(np.sqrt(compiled.distribution.cov[o.premium_column, o.premium_column])),
            "expected_paid": float(paid.mean()), "paid_at_estimate": float(centre.premium_amounts[0, j]),
            "p_paid": float((paid > 0).mean()),
        })
    floors = []
    for k, f in enumerate(compiled.floors):
        met = mc["floor_met"][:, k]
        floors.append({
            "outcome": f.spec.outcome, "group": f.spec.group, "label": f.label, "floor": f.spec.floor,
            "require_significance": f.spec.require_significance, "withhold": f.spec.withhold,
            "bound_improvement": f.bound, "group_centre": f.centre, "group_std_error": f.se,
            "group_improvement": f.sign * f.centre, "p_met": float(met.mean()),
            "p_met_closed_form": closed_form_p_floor(compiled, f), "met_at_estimate": bool(centre.floor_met[0, k]),
        })
    return {"subgroup_label": compiled.contract.contract.subgroup_label, "premiums": premiums, "floors": floors,
            "floor_definition": "the group's improvement (effect in the outcome's good direction, estimate units) "
                                "reaches the floor (and the significance bound when required) in a draw; payments "
                                "are withheld in the draws where it does not"}


def _irr_block(mc: dict[str, np.ndarray], centre: Any, notes: list[str]) -> dict[str, Any]:
    """The ``irr`` block over the draws where the IRR exists; notes draws whose IRR may not be unique."""
    status = mc["irr_status"]
    irr = mc["irr"]
    defined = status != IRRStatus.UNDEFINED
    irr_block: dict[str, Any] = {
        "at_estimate": float(centre.irr[0]) if np.isfinite(centre.irr[0]) else None,
        "quantiles": _quantiles(np.where(defined, irr, np.nan)),
        "mean": float(np.nanmean(irr)) if defined.any() else None,
        "p_undefined": float((~defined).mean()),
        "p_multiple_roots": float((status == IRRStatus.MULTIPLE).mean()),
        "p_total_loss": float((status == IRRStatus.TOTAL_LOSS).mean()),
    }
    if irr_block["p_multiple_roots"] > 0:
        notes.append(f"{irr_block['p_multiple_roots']:.1%} of draws give investor cash flows with several sign "
                     "changes: their IRR may not be unique (the root nearest zero is reported)")
    return irr_block


def _tranches(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any,
              tranche_none: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """Each tranche's receipts, multiple and losses (``tranche_none``: its receipts if nothing is paid)."""
    tranches = {}
    for tr in compiled.tranches:
        got = mc[f"tranche:{tr.name}"]
        tranches[tr.name] = {
            "kind": tr.kind, "principal": tr.principal, "return_cap": tr.return_cap, "priority": tr.priority,
            "expected_received": float(got.mean()), "received_at_estimate": float(centre.tranche_received[
                tr.name][0]),
            "expected_multiple": float(got.mean() / tr.principal),
            "p_loss": float((got < tr.principal * (1 - 1e-12)).mean()),
            "expected_loss": float(np.clip(tr.principal - got, 0, None).mean()),
            "max_loss": max(tr.principal - tranche_none[tr.name], 0.0),
            "max_simulated_loss": float(np.clip(tr.principal - got, 0, None).max()),
        }
    return tranches


def _investors(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any,
               invested: float) -> dict[str, Any]:
    """The ``investors`` block: receipts, multiple, losses, tranches and guarantees."""
    received = mc["received"]
    loss_mask = received < invested * (1 - 1e-12)
    got_none, tranche_none = compiled.loss_without_payments()
    guarantees = {gs.name: {"covers": gs.covers, "amount": gs.amount, "mode": gs.mode,
                            "expected_payout": float(mc[f"guarantee:{gs.name}"].mean()),
                            "p_payout": float((mc[f"guarantee:{gs.name}"] > 0).mean())}
                  for gs in compiled.guarantees}
    return {
        "invested": invested, "expected_received": float(received.mean()),
        "received_at_estimate": float(centre.received[0]),
        "cash_flows_at_estimate": centre.investor_flows[0].tolist() if centre.investor_flows is not None else None,
        "moic": {"at_estimate": float(centre.received[0] / invested) if invested > 0 else None,
                 "expected": float(received.mean() / invested) if invested > 0 else None,
                 "quantiles": _quantiles(received / invested) if invested > 0 else _quantiles(np.zeros(0))},
        "p_loss": float(loss_mask.mean()) if invested > 0 else None,
        "expected_loss": float(np.clip(invested - received, 0, None).mean()),
        "max_loss": max(invested - got_none, 0.0),
        "max_loss_basis": MAX_LOSS_BASIS,
        "received_without_payments": got_none,
        "max_simulated_loss": float(np.clip(invested - received, 0, None).max()),
        "tranches": _tranches(compiled, mc, centre, tranche_none), "guarantees": guarantees,
        "expected_residual": float(mc["residual"].mean()),
    }


def _break_even(compiled: CompiledContract) -> tuple[dict[str, float | None], str]:
    """Each outcome's break-even effect and what the primary outcome's solves."""
    primary = compiled.contract.primary_outcome.name
    be_all = {}
    be_basis = ""
    for o in compiled.outcomes:
        val, basis = compiled.break_even(o.outcome.name)
        be_all[o.outcome.name] = val
        if o.outcome.name == primary:
            be_basis = basis
    return be_all, be_basis


def _benefit_block(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any) -> dict[str, Any]:
    """The ``benefits`` block: benefits at the estimate by beneficiary, costs, the benefit–cost ratio (also by
    discount rate), the streams, the WSIPP benchmark and the economic parameters used."""
    ben_c = centre.benefits[0]
    total_c = float(ben_c.sum())
    by_rate = {}
    for r in compiled.economics.values("sensitivity_discount_rates"):
        by_rate[f"{r:g}"] = _bcr_at_rate(compiled, r)
    cost = compiled.cost_pv
    return {
        "discount_rate": compiled.benefit_rate,
        "by_beneficiary_at_estimate": {b: float(v) for b, v in zip(BENEFICIARIES, ben_c, strict=True)},
        "total_at_estimate": total_c, "expected_total": float(mc["benefit_total"].mean()),
        "total_quantiles": _quantiles(mc["benefit_total"]),
        "cost_pv": cost, "cost_basis": compiled.cost_note,
        "benefit_cost_ratio": float(total_c / cost) if cost else None,
        "benefit_cost_ratio_by_discount_rate": by_rate,
        "net_benefit_at_estimate": total_c - cost if cost is not None else None,
        "p_benefits_exceed_costs": float((mc["benefit_total"] > cost).mean()) if cost is not None else None,
        "streams": [_stream_entry(compiled, k, st, mc) for k, st in enumerate(compiled.streams)],
        "wsipp_cte_academies": wsipp_benchmark(compiled.economics),
        "parameters": {k: p.to_dict() for k, p in compiled.economics.parameters.items()
                       if not k.startswith("wsipp.")},
        "dollar_year": compiled.economics.dollar_year,
    }


def _stream_entry(compiled: CompiledContract, k: int, st: Any, mc: dict[str, np.ndarray]) -> dict[str, Any]:
    """One benefit stream: what it values (a paid outcome's effect or its own, e.g. a projected, estimate), its
    value per unit, and its present value at the estimate and over the draws, by beneficiary."""
    u = st.unit
    g_c = float(st.sign * compiled.centre[st.column])
    row = st.row
    expected = float(mc["mean:stream_benefits"][k])
    g_mean = expected / float(row.sum()) if row.sum() != 0 else g_c
    projected = [i for i, s in enumerate(compiled.streams) if s.projected]
    quantiles = _quantiles(mc["projected_benefits"][:, projected.index(k)]) if st.projected else None
    return {"outcome": u.outcome, "kind": u.kind, "name": _stream_key(st), "label": st.label,
            "projected": st.projected, "lag_years": st.lag_years,
            "source": ("its own estimate, drawn with the others in the Monte Carlo" if st.projected
                       else "the paid outcome's effect"),
            "improvement_at_estimate": g_c,
            "estimate_std_error": float(np.sqrt(compiled.distribution.cov[st.column, st.column])),
            "per_unit_by_beneficiary": {b: float(v) for b, v in zip(BENEFICIARIES, u.values, strict=True)},
            "pv_at_estimate": float(g_c * row.sum()), "expected_pv": expected,
            "pv_quantiles": quantiles,
            "by_beneficiary_at_estimate": {b: float(g_c * v) for b, v in zip(BENEFICIARIES, row, strict=True)},
            "expected_by_beneficiary": {b: float(g_mean * v) for b, v in zip(BENEFICIARIES, row, strict=True)},
            "components": u.components}


def _evaluation(compiled: CompiledContract) -> dict[str, Any]:
    """The ``evaluation`` block: the test and the MDE's definition."""
    ev = compiled.contract.evaluation
    return {
        "alpha": ev.alpha, "power": ev.power, "df": compiled.distribution.df,
        "z_critical": compiled.outcomes[0].z_crit,
        "test": "two-sided at alpha; a payment that requires significance needs the estimate to be significant in "
                "the outcome's good direction (improvement >= z_critical x SE)",
        "mde_definition": "the true improvement the test detects with probability 'power' (z_critical + z_power) "
                          "x SE, unless the design supplied its own",
    }


def _summarise(compiled: CompiledContract, mc: dict[str, np.ndarray], centre: Any, n: int,
               seed: int | None, *, outside: tuple[np.ndarray, np.ndarray]) -> PricingResults:
    """The draws and the contract at the centre, summarised into :class:`PricingResults`."""
    c = compiled.contract
    notes = list(compiled.notes)
    est_info = _estimates(compiled, n, outside, notes)
    thresholds = _thresholds(compiled, mc, centre)
    payments = _payments(compiled, mc, centre)
    outcomes_view = _outcomes_view(compiled, centre)
    payors = _payors(compiled, mc, centre)
    investors: dict[str, Any] | None = None
    irr_block: dict[str, Any] = {"at_estimate": None, "quantiles": _quantiles(np.zeros(0))}
    if compiled.tranches:
        invested = float(sum(t.principal for t in compiled.tranches if t.name in compiled.investor_tranches))
        irr_block = _irr_block(mc, centre, notes)
        investors = _investors(compiled, mc, centre, invested)
    primary = c.primary_outcome.name
    be_all, be_basis = _break_even(compiled)
    curve = _curve(compiled, primary, be_all[primary], investors["invested"] if investors else None)
    benefit = _benefit_block(compiled, mc, centre) if c.benefits is not None else None
    return PricingResults(
        contract=c, draws=n, seed=seed, evaluation=_evaluation(compiled),
        distribution=compiled.distribution.to_dict(), estimates=tuple(est_info), thresholds=tuple(thresholds),
        payments=payments, outcomes=outcomes_view, payors=payors, investors=investors, irr=irr_block,
        p_investor_loss=None if investors is None else investors["p_loss"],
        break_even_effect=be_all[primary], break_even_effects=be_all, break_even_basis=be_basis, curve=curve,
        benefits=benefit, benefit_cost_ratio=None if benefit is None else benefit["benefit_cost_ratio"],
        notes=tuple(notes), years=compiled.n_years,
        _payment_draws=mc["payment_total"], _irr_draws=mc["irr"] if compiled.tranches else None,
        gross_vs_impact=_gross_vs_impact(compiled, mc, centre), equity=_equity(compiled, mc, centre),
    )


def _curve(compiled: CompiledContract, primary: str, break_even: float | None,
           invested: float | None) -> dict[str, Any]:
    """The payment against the primary outcome's effect (the others at their centres), as a polyline that draws
    each jump as a vertical step: a break's effect appears twice, first with the side of the jump nearer lower
    effects, then with the other side (for an outcome whose good direction is a decrease, the paid side comes
    first)."""
    po = compiled.outcomes[compiled.outcome_index(primary)]
    span = max(4.0 * po.se, 1e-6 * max(abs(po.centre), 1.0))
    lo, hi = max(po.centre - span, po.lower), min(po.centre + span, po.upper)
    grid = np.linspace(lo, hi, CURVE_POINTS)
    breaks = compiled.payment_breaks(primary)
    extra = [th.at_effect * po.sign for th in compiled.thresholds if th.outcome == primary]
    extra += [b.effect for b in breaks]
    if break_even is not None:
        extra.append(break_even)
    extra.append(0.0)
    extra = [x for x in extra if po.lower <= x <= po.upper]
    grid = np.unique(np.concatenate([grid, np.asarray(extra, dtype=float)]))
    for b in breaks:  # a threshold counts as reached within a rounding tolerance: keep that sliver off the curve
        near = np.abs(grid - b.effect) <= 1e-9 * max(1.0, abs(b.effect))
        grid = grid[~near | (grid == b.effect)]
    sc = compiled.scenario_at(primary, grid)
    rows: list[tuple[float, float, float, float, float]] = []  # effect, payment, NPV, IRR, received
    at_break = {b.effect: b for b in breaks}
    for i, x in enumerate(grid):
        point = (float(x), float(sc.payment_total[i]), float(sc.payment_npv[i]), float(sc.irr[i]),
                 float(sc.received[i]))
        brk = at_break.get(float(x))
        if brk is None:
            rows.append(point)
            continue
        short = (float(x), float(brk.below.payment_total[0]), float(brk.below.payment_npv[0]),
                 float(brk.below.irr[0]), float(brk.below.received[0]))
        rows.extend([short, point] if po.sign > 0 else [point, short])
    arr = np.array(rows, dtype=float).reshape(-1, 5)

    def multiple(received: np.ndarray) -> list[float] | None:
        return (received / invested).tolist() if invested else None

    return {
        "outcome": primary, "label": compiled.labels[po.column], "effect": arr[:, 0].tolist(),
        "payment": arr[:, 1].tolist(), "payment_npv": arr[:, 2].tolist(),
        "investor_irr": [float(v) if np.isfinite(v) else None for v in arr[:, 3]] if compiled.tranches else None,
        "investor_multiple": multiple(arr[:, 4]),
        "admissible_effect": {"lower": _bound(po.lower), "upper": _bound(po.upper)},
        "breaks": [{"effect": b.effect, "improvement": b.improvement, "causes": list(b.causes),
                    "payment_below": float(b.below.payment_total[0]), "payment_at": float(b.at.payment_total[0]),
                    "payment_npv_below": float(b.below.payment_npv[0]), "payment_npv_at": float(b.at.payment_npv[0]),
                    "investor_multiple_below": float(b.below.received[0] / invested) if invested else None,
                    "investor_multiple_at": float(b.at.received[0] / invested) if invested else None}
                   for b in breaks],
    }


def _bcr_at_rate(compiled: CompiledContract, rate: float) -> float | None:
    """Benefit–cost ratio at the centre with every benefit and cost discounted at ``rate`` (the Levin et al.
    public-cost savings are present values already and are not re-discounted)."""
    from cteimpact.pricing.benefits import unit_value

    c = compiled.contract
    if c.benefits is None:
        return None
    total = 0.0
    for st in compiled.streams:
        uv = unit_value(st.spec, compiled.economics, rate)
        weight = sum(co.students * (1 + rate) ** (-(co.year + st.lag_years)) for co in c.cohorts)
        total += uv.total * weight * st.sign * float(compiled.centre[st.column])
    t = np.arange(compiled.n_years, dtype=float)
    disc = (1 + rate) ** (-t)
    if c.costs is not None:
        costs = np.zeros(compiled.n_years)
        costs[: len(c.costs.service_by_year)] += c.costs.service_by_year
        costs[: len(c.costs.other_by_year)] += c.costs.other_by_year
        cost = float(costs @ disc)
    elif compiled.tranches:
        cost = float(sum(tr.draws for tr in compiled.tranches) @ disc)
    else:
        return None
    return total / cost if cost > 0 else None
