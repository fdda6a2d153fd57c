"""Synthetic student records calibrated to the California Career Pathways Trust, with the true effects.

``simulate(seed=..., scale=...)`` returns the data in memory; ``generate(out_dir, seed=..., scale=...)`` writes
them chunk by chunk (scale 1 ≈ 600,000 students and 5 million student-year rows; scale 2 exceeds 10 million).
"""

from cteimpact.synth.calibration import Calibration, GrantRound
from cteimpact.synth.codebook import CODEBOOK, COLUMN_MAPS
from cteimpact.synth.generate import SyntheticData, generate, simulate

__all__ = ["CODEBOOK", "COLUMN_MAPS", "Calibration", "GrantRound", "SyntheticData", "generate", "simulate"]
