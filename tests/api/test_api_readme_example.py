"""The README's Python example runs as a doctest and prints what it shows.

The example is the first ```python block under the heading "Python" of README.md; ``EXAMPLE`` holds the same text
(checked equal), which the second test alters to show that a wrong output is caught.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

EXAMPLE = '''
>>> import numpy as np, pandas as pd, cteimpact
>>> rng = np.random.default_rng(2024)
>>> score = rng.uniform(-20, 20, 20_000)  # rubric score; the grant cutoff is 0
>>> dropout = rng.uniform(size=20_000) < 0.20 - 0.05 * (score >= 0)
>>> students = pd.DataFrame({"rubric_score": score, "dropout": dropout.astype(int)})
>>> res = cteimpact.rd(students, outcome="dropout", score="rubric_score", cutoff=0)
>>> res  # print(res) shows the full summary
<RDResults design=rd outcome=dropout dropout=-0.0335 (SE 0.02249) N=20,000 rows>
>>> res.conf_int(0.90).loc["dropout"].round(3).tolist()
[-0.068, 0.006]
>>> pay = cteimpact.price(res, "schedule_rikers", seed=1)  # a shipped Pay-for-Success contract
>>> round(pay.p_any_payment, 2)
0.79
'''


def _readme_example() -> str | None:
    """The first ```python block under a heading "Python" in README.md, if the README has one."""
    readme = REPO / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8")
    m = re.search(r"^#+\s*Python\s*$.*?^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return m.group(1) if m else None


def _run(text: str) -> doctest.TestResults:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, "README Python example", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.summarize(verbose=False)


def test_readme_python_example_runs_as_a_doctest():
    text = _readme_example()
    assert text is not None, "README.md has no ```python block under a 'Python' heading"
    assert text.strip() == EXAMPLE.strip()  # the README shows the example this file checks for failures
    assert text.count(">>>") >= 8  # the example is really there
    result = _run(text)
    assert result.attempted >= 8
    assert result.failed == 0


def test_the_doctest_runner_detects_a_wrong_output():
    # the check above can fail: a changed expected output is reported as a failure
    wrong = EXAMPLE.replace("[-0.068, 0.006]", "[-0.5, 0.5]")
    assert wrong != EXAMPLE
    assert _run(wrong).failed == 1
