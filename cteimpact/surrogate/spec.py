"""``[surrogate]`` of an analysis specification: the surrogate index a run fits and projects the design onto.

A study whose long-run outcome is not yet observed (earnings at 26 of students who are 19) names it, the interim
outcomes that stand in for it (the surrogates) and the older cohorts where both are seen (``training``: restrictions
of the restriction language applied to the data read, before ``[sample]``)::

    [surrogate]
    outcome = "earnings_age26"
    surrogates = ["credential", "completer", "earnings_age19"]
    covariates = ["female", "low_income"]
    training = ["cohort <= 2013"]
    validation_outcome = "earnings_age21"   # optional: the surrogacy check at a horizon the study sample reaches
    cluster = "district_id"                 # optional: CR1 standard errors of the index's coefficients

The run fits the index on the training rows, predicts the long-run outcome of every student of the study sample,
estimates the design's effect on that prediction (and on each surrogate) and reports it as the estimate ``label``
(default ``"<outcome>[surrogate]"``), which a pricing contract can pay on (see
:mod:`cteimpact.pipeline.surrogate`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from cteimpact.config.restriction_text import RestrictionText
from cteimpact.config.toml import ConfigModel
from cteimpact.errors import CteImpactError
from cteimpact.surrogate.model import check_model_columns

__all__ = ["INDEX_SUFFIX", "SurrogateSpec"]

INDEX_SUFFIX = "[surrogate]"
"""Appended to the long-run outcome to name the projected estimate by default (``earnings_age26[surrogate]``)."""


def _label(text: str | None) -> str | None:
    if text is not None and (not text.strip() or text != text.strip() or any(not c.isprintable() for c in text)):
        raise ValueError(f"'{text}' must be a non-empty label without leading or trailing spaces")
    return text


class SurrogateSpec(ConfigModel, BaseModel):  # BaseModel named for linters: the fields' list defaults are copied
    """``[surrogate]``: the long-run outcome, its surrogates, the training sample and the surrogacy check."""

    outcome: str
    """Long-run outcome column (seen in the training sample only), e.g. ``"earnings_age26"``."""
    surrogates: Annotated[list[str], Field(min_length=1)]
    """Interim-outcome columns the index predicts the long-run outcome from."""
    covariates: list[str] = []
    """Pre-treatment columns of the index (optional)."""
    training: Annotated[list[RestrictionText], Field(min_length=1)]
    """Restrictions (restriction language) that select the training sample from the data read, before the
    ``[sample]`` restrictions, e.g. ``["cohort <= 2013"]``."""
    validation_outcome: str | None = None
    """An outcome the study sample has (a shorter horizon, e.g. ``"earnings_age21"``): its index is fitted on the same
    training sample and its projected effect compared with the design's direct estimate (the surrogacy check)."""
    validation_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Size of the surrogacy check's test (flagged when the difference is significant at this size)."""
    label: Annotated[str | None, AfterValidator(_label)] = None
    """Label of the projected estimate (default ``"<outcome>[surrogate]"``)."""
    vce: Literal["hc1", "cr1"] | None = None
    """Covariance of the index's coefficients: ``hc1`` (heteroskedasticity-robust, the default without
    ``cluster``) or ``cr1`` (cluster-robust, the default with it; needs ``cluster``)."""
    cluster: str | None = None
    """Cluster column of the training sample (CR1)."""
    weights: str | None = None
    """Sampling weights of the training sample."""

    @model_validator(mode="after")
    def _v_columns(self) -> SurrogateSpec:
        try:
            check_model_columns(outcome=self.outcome, surrogates=self.surrogates, covariates=self.covariates,
                                weights=self.weights, cluster=self.cluster)
        except CteImpactError as exc:
            raise ValueError(str(exc)) from None
        if self.vce == "cr1" and self.cluster is None:
            raise ValueError("vce = 'cr1' (cluster-robust) needs 'cluster', the training sample's cluster column")
        if self.vce == "hc1" and self.cluster is not None:
            raise ValueError(f"vce = 'hc1' with cluster = '{self.cluster}': a cluster column gives cluster-robust "
                             "(cr1) standard errors; drop one of the two")
        v = self.validation_outcome
        if v is not None and (v == self.outcome or v in self.surrogates or v in self.covariates):
            raise ValueError(f"validation_outcome '{v}' is also the long-run outcome, a surrogate or a covariate; it "
                             "must be an outcome the study sample has at a shorter horizon")
        return self

    @property
    def projected_label(self) -> str:
        """The label of the projected estimate."""
        return self.label if self.label is not None else f"{self.outcome}{INDEX_SUFFIX}"

    def columns_used(self) -> list[str]:
        """Every column the section names (the data must have them)."""
        cols = [self.outcome, *self.surrogates, *self.covariates, self.validation_outcome, self.cluster,
                self.weights]
        return list(dict.fromkeys(c for c in cols if c))
