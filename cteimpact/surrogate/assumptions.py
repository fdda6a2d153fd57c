"""The identifying assumptions of the surrogate index, in plain words, for results and reports.

Athey, Chetty, Imbens & Kang (2019) identify the long-run effect from the two samples under three assumptions:

1. **unconfoundedness** of the treatment in the experimental sample (random assignment, or the design's own
   identifying assumption for a quasi-experiment);
2. **surrogacy** (Prentice 1989): given the surrogates and covariates, the long-run outcome does not depend on
   treatment, that is, every path from the treatment to the long-run outcome runs through the surrogates;
3. **comparability**: the distribution of the long-run outcome given the surrogates and covariates is the same in
   the observational sample (where the index is fitted) and in the experimental sample.

The sentences below name the study's own columns, so a reader sees what is being assumed about *these* data.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["assumption_statements"]


def _quoted(names: Sequence[str]) -> str:
    items = [f"'{n}'" for n in names]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def assumption_statements(*, outcome: str, surrogates: Sequence[str], covariates: Sequence[str] = (),
                          design: str = "the experimental comparison") -> tuple[str, ...]:
    """The surrogacy, comparability and design assumptions, each one sentence naming the study's columns.

    Parameters
    ----------
    outcome
        Long-run outcome.
    surrogates, covariates
        The index's columns.
    design
        How the effects on the surrogates were identified (for the third statement).
    """
    given = _quoted(surrogates) + (f" (with {_quoted(covariates)})" if covariates else "")
    return (
        f"Surrogacy: the program changes '{outcome}' only through {given}: every path from the treatment to the "
        "long-run outcome runs through the surrogates. An effect on the long-run outcome that bypasses them (for "
        "example through skills or networks the surrogates do not measure) biases the estimate by its size.",
        f"Comparability: the relation between {given} and '{outcome}' is the same in the observational sample "
        "where the index was fitted (older cohorts) as in the sample the effect is estimated on: for example, the "
        "labour-market value of a credential has not changed between those cohorts.",
        f"Design: {design} identifies the program's effects on the surrogates.",
    )
