"""Sharp and fuzzy regression discontinuity from grouped sufficient statistics (issue 14).

With a discrete running variable the data reduce to one cell per score value (× cluster) holding the row count,
the outcome sum and the within-cell sum of squares (and, for a fuzzy design, the take-up's sum, sum of squares and
cross-products with the outcome); rdrobust's local polynomial estimates, standard errors and
bandwidth selectors are functions of these cells (:mod:`~cteimpact.rd.sufficient.estimator`). The cells can be
computed by pandas (:func:`~cteimpact.rd.sufficient.cells.cells_from_frame`) or by the data engine in one
``GROUP BY`` query, so that no student row leaves it.
"""

from cteimpact.rd.sufficient.bandwidth import BandwidthSelector
from cteimpact.rd.sufficient.cells import ScoreCells, cells_from_frame
from cteimpact.rd.sufficient.design import Kernel
from cteimpact.rd.sufficient.errors import TooManyScoreValuesError
from cteimpact.rd.sufficient.estimator import fit_cells
from cteimpact.rd.sufficient.localfit import Vce
from cteimpact.rd.sufficient.query import MAX_SCORE_VALUES, EngineCells, score_cells_query

__all__ = ["MAX_SCORE_VALUES", "BandwidthSelector", "EngineCells", "Kernel", "ScoreCells", "TooManyScoreValuesError",
           "Vce", "cells_from_frame", "fit_cells", "score_cells_query"]
