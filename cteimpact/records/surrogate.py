"""The surrogate-index record (``results.json`` ``surrogate``, written by :mod:`cteimpact.pipeline.surrogate`): the
index fitted on the training sample, the design's effect projected onto it, the surrogacy check at an observed
horizon and the assumptions.

>>> s = records.results.surrogate                                    # doctest: +SKIP
>>> s.primary.estimate.estimate, s.primary.std_error               # doctest: +SKIP
>>> [(c.term, c.estimate, c.std_error) for c in s.model.coefficients]  # doctest: +SKIP
>>> s.check().verdict if s.check() else None                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cteimpact.records._base import Num, Record, RecordMap, Text
from cteimpact.records.estimates import EstimateRow
from cteimpact.records.flow import SampleFlow

__all__ = ["Arms", "Coefficient", "IndexModel", "Projection", "ProjectionResults", "StudySample", "Surrogate",
           "SurrogateCheck", "Training", "VarianceTerms"]


@dataclass(frozen=True)
class Training(Record):
    """``surrogate.training``: the restrictions that select the training sample from the data read, and its flow."""

    restrictions: tuple[Text, ...] = ()
    sample_flow: SampleFlow | None = None
    overlap_rows: Num | None = None
    """Rows also in the study sample (None when suppressed: fewer than ``min_cell``)."""
    independent: bool | None = None
    """Whether the training and study samples share no row (the variance assumes they do not)."""
    overlap_note: Text | None = None


@dataclass(frozen=True)
class Coefficient(Record):
    """One coefficient of the index (normal test and interval at 95%)."""

    term: Text
    estimate: Num | None = None
    std_error: Num | None = None
    statistic: Num | None = None
    p_value: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None


@dataclass(frozen=True)
class IndexModel(Record):
    """``surrogate.model`` (and ``validation_model``): the linear projection of the outcome on the surrogates and
    covariates in the training sample."""

    outcome: Text | None = None
    surrogates: tuple[Text, ...] = ()
    covariates: tuple[Text, ...] = ()
    terms: tuple[Text, ...] = ()
    coefficients: tuple[Coefficient, ...] = ()
    n: Num | None = None
    """Training rows used (every value present)."""
    n_clusters: Num | None = None
    r_squared: Num | None = None
    cov_type: Text | None = None
    """``HC1`` or ``CR1``."""
    outcome_mean: Num | None = None
    outcome_sd: Num | None = None
    sample_flow: SampleFlow | None = None

    def coefficient(self, term: str) -> Coefficient | None:
        """The coefficient of ``term`` (``intercept``, a surrogate or a covariate), or None."""
        return next((c for c in self.coefficients if c.term == term), None)


@dataclass(frozen=True)
class Arms(Record):
    """``surrogate.study_sample.arms``: the design's two arms, their rows and each surrogate's presence (counts under
    the small-cell threshold are ``None``)."""

    rule: Mapping[str, Text] = field(default_factory=RecordMap)
    rows: Mapping[str, Num | None] = field(default_factory=RecordMap)
    present: Mapping[str, Mapping[str, Num | None]] = field(default_factory=RecordMap)
    with_index: Mapping[str, Num | None] = field(default_factory=RecordMap)
    """Rows of each arm with every surrogate and covariate (the index); under ``min_cell`` the projection is
    suppressed."""


@dataclass(frozen=True)
class StudySample(Record):
    """``surrogate.study_sample``: the index column added to the study sample, the rows it could be predicted for
    (``index_flow``) and the arms."""

    index_column: Text | None = None
    index_flow: SampleFlow | None = None
    arms: Arms | None = None


@dataclass(frozen=True)
class VarianceTerms(Record):
    """The variance of a projected effect: the design's (index held fixed), the index's coefficients', the total."""

    design: Num | None = None
    model: Num | None = None
    total: Num | None = None


@dataclass(frozen=True)
class Projection(Record):
    """One entry of ``surrogate.projections``: a projected long-run effect and how it was combined, or a suppressed
    one (``suppressed`` with the reason, no numbers)."""

    label: Text
    index_label: Text | None = None
    surrogate_labels: Mapping[str, Text] = field(default_factory=RecordMap)
    estimate: Num | None = None
    """The design's point estimate on the index."""
    centre: Num | None = None
    """The design's centre on the index: the projected estimate (bias-corrected for RD)."""
    std_error: Num | None = None
    variance: VarianceTerms | None = None
    surrogate_effects: Mapping[str, Num] = field(default_factory=RecordMap)
    df: Num | None = None
    suppressed: bool = False
    suppression: Text | None = None


@dataclass(frozen=True)
class ProjectionResults(Record):
    """``surrogate.projection``: the results record of the projected estimates (what pricing draws from)."""

    schema: Text | None = None
    estimates: tuple[EstimateRow, ...] = ()


@dataclass(frozen=True)
class SurrogateCheck(Record):
    """One entry of ``surrogate.validation``: at the observed horizon, the design's direct estimate against its
    projection; ``difference`` is the design's effect on the index's prediction error (index minus outcome)."""

    estimand: Text | None = None
    """``primary`` or ``reduced_form``."""
    suppressed: bool = False
    suppression: Text | None = None
    outcome: Text | None = None
    direct: Num | None = None
    direct_se: Num | None = None
    projected: Num | None = None
    projected_se: Num | None = None
    difference: Num | None = None
    difference_se: Num | None = None
    projected_minus_direct: Num | None = None
    statistic: Num | None = None
    p_value: Num | None = None
    alpha: Num | None = None
    flagged: bool | None = None
    share_captured: Num | None = None
    verdict: Text | None = None
    variance: VarianceTerms | None = None
    estimates: tuple[EstimateRow, ...] = ()


@dataclass(frozen=True)
class Surrogate(Record):
    """``surrogate``: the whole record (see the module docstring)."""

    schema: Text | None = None
    label: Text | None = None
    """The projected estimate's label (``earnings_age26[surrogate]``)."""
    labels: tuple[Text, ...] = ()
    """Every projected label (with ``[reduced_form]`` for a fuzzy RD); empty when suppressed."""
    outcome: Text | None = None
    surrogates: tuple[Text, ...] = ()
    covariates: tuple[Text, ...] = ()
    training: Training | None = None
    min_cell: Num | None = None
    suppressed: bool = False
    suppression: Text | None = None
    model: IndexModel | None = None
    validation_model: IndexModel | None = None
    study_sample: StudySample | None = None
    design_effects: tuple[EstimateRow, ...] = ()
    """The design's estimates on the index column(s), the surrogates and the validation outcome."""
    projections: tuple[Projection, ...] = ()
    projection: ProjectionResults | None = None
    validation: tuple[SurrogateCheck, ...] = ()
    assumptions: tuple[Text, ...] = ()

    def projected(self, label: str) -> Projection | None:
        """The projection labelled ``label``, or None."""
        return next((p for p in self.projections if p.label == label), None)

    @property
    def primary(self) -> Projection | None:
        """The projection of the primary estimand (labelled :attr:`label`), or None when suppressed."""
        return None if self.label is None else self.projected(str(self.label))

    def estimate(self, label: str) -> EstimateRow | None:
        """The projected estimate row labelled ``label`` (as pricing reads it), or None."""
        rows = self.projection.estimates if self.projection is not None else ()
        return next((e for e in rows if e.label == label), None)

    def check(self, estimand: str = "primary") -> SurrogateCheck | None:
        """The surrogacy check of ``estimand`` (``primary`` or ``reduced_form``), or None without one."""
        return next((c for c in self.validation if c.estimand == estimand), None)

    @property
    def flagged(self) -> bool:
        """Whether any surrogacy check is flagged."""
        return any(bool(c.flagged) for c in self.validation)
