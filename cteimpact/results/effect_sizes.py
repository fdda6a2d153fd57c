"""The WWC effect sizes, importable from here as before: they live in :mod:`cteimpact.stats.effect_sizes` (the Cox
index, Hedges' g, the small-sample correction ω and their one edge convention are documented there)."""

from cteimpact.stats.effect_sizes import COX_SCALE, CoxIndex, cox_index, hedges_omega

__all__ = ["COX_SCALE", "CoxIndex", "cox_index", "hedges_omega"]
