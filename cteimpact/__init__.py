"""cteimpact: impact evaluation of career and technical education pathways and Pay-for-Success pricing.

Subpackages (arrows point one way: data → estimation → pricing → reporting):

``cteimpact.data``
    Student-data contract, loading, validation, sample flow.
``cteimpact.synth``
    Synthetic data calibrated to the California Career Pathways Trust, with the true effects.
``cteimpact.results``
    The results contract shared by every estimator.
``cteimpact.rd``, ``cteimpact.did``
    Regression discontinuity and staggered difference-in-differences.
``cteimpact.pricing``
    Pay-for-Success contract pricing.
``cteimpact.pipeline``, ``cteimpact.reporting``
    Declarative runs, provenance and verification; Quarto reports.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
