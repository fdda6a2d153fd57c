"""Local-randomisation statistics beyond the difference in means: Kolmogorov-Smirnov and the Wilcoxon rank sum
(rdlocrand's ``statistic='ksmirnov'``/``'ranksum'``). The observed statistic and the asymptotic p-value equal
``rdlocrand.rdrandinf``'s exactly; the randomisation p-value (different random draws) within Monte Carlo error."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from cteimpact.cli.app import main
from cteimpact.errors import OptionError
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.adapters.rdlocrand import reference_randomization
from cteimpact.rd.estimator import LocalRandomizationOptions
from cteimpact.rd.local_randomization import local_randomization


def _data(seed=5, n=400, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    y = 0.4 * (x >= 0) + rng.standard_normal(n)
    return x, (np.round(y) if ties else y)


@pytest.mark.parametrize("statistic", ["ksmirnov", "ranksum", "diffmeans"])
@pytest.mark.parametrize("ties", [False, True])
def test_statistics_match_rdrandinf(statistic, ties):
    x, y = _data(ties=ties)
    ours = local_randomization(x, y, 0.0, window=0.3, statistic=statistic, reps=2000, ci=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = reference_randomization(y, x, cutoff=0.0, window=(-0.3, 0.3), reps=2000, statistic=statistic)
    assert ours.statistic == statistic
    assert ours.statistic_value == pytest.approx(ref.statistic, rel=1e-12, abs=1e-15)
    assert ours.p_asymptotic == pytest.approx(ref.p_asymptotic, rel=1e-10)
    assert ours.n == ref.n
    mc = math.sqrt(2 * ref.p_value * (1 - ref.p_value) / 2000) + 1e-3
    assert abs(ours.p_value - ref.p_value) < 4 * mc


def test_distribution_statistics_detect_a_scale_change_the_mean_misses():
    rng = np.random.default_rng(9)
    x = rng.uniform(-1, 1, 600)
    y = rng.standard_normal(600) * np.where(x >= 0, 3.0, 1.0)
    ks = local_randomization(x, y, 0.0, window=0.5, statistic="ksmirnov", reps=500, ci=True)
    dm = local_randomization(x, y, 0.0, window=0.5, statistic="diffmeans", reps=500, ci=False)
    assert ks.p_value < 0.01 < dm.p_value
    assert ks.ci is None and any("difference in means only" in n for n in ks.notes)
    assert dm.statistic_value == dm.estimate


def test_errors():
    x, y = _data()
    with pytest.raises(OptionError, match="statistic must be one of diffmeans, ksmirnov, ranksum; got 'ttest2'"):
        local_randomization(x, y, 0.0, window=0.3, statistic="ttest2")
    rng = np.random.default_rng(1)
    xu = rng.uniform(-1, 1, 200)
    codes = np.repeat(np.arange(200), 2)  # scores assigned to units of two rows each
    x, y = xu[codes], rng.standard_normal(400)
    with pytest.raises(OptionError, match=r"statistic='ranksum' compares the distributions of one row per "
                                          r"assignment unit, but [0-9]+ units have several rows"):
        local_randomization(x, y, 0.0, window=0.3, statistic="ranksum", codes=codes)
    with pytest.raises(OptionError, match="statistic must be one of"):
        LocalRandomizationOptions(statistic="median")  # type: ignore[arg-type]


def test_through_the_estimator_and_cli(capsys, tmp_path):
    import pandas as pd

    x, y = _data()
    d = pd.DataFrame({"x": x, "y": y})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(d, "y", "x", 0.0).fit(
            local_randomization=LocalRandomizationOptions(window=0.3, statistic="ranksum", reps=500))
    lr = res.local_randomization["y"]
    direct = local_randomization(x, y, 0.0, window=0.3, statistic="ranksum", reps=500)
    assert (lr.statistic, lr.statistic_value, lr.p_value) == ("ranksum", direct.statistic_value, direct.p_value)
    path = tmp_path / "d.csv"
    d.to_csv(path, index=False)
    code = main(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0", "--local-randomization",
                 "--window", "0.3", "--statistic", "ksmirnov"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Kolmogorov-Smirnov statistic" in out.out
    code = main(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0", "--local-randomization",
                 "--statistic", "ttest2"])
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert code == 2 and out.out == "" and len(lines) == 1 and "--statistic" in lines[0]
