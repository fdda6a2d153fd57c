"""A sample report exercising every block of the builder, used by the rendering tests (and to look at the output:
``python tests/reporting/reporting_sample.py OUT_DIR`` writes and renders it).

Its numbers are made up for the layout; what the tests check is that they reach the outputs unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from cteimpact.plotting import PALETTE, new_figure, save_figure
from cteimpact.reporting import (
    QmdDocument,
    format_ci,
    format_count,
    format_effect,
    format_full,
    format_money,
    format_p_value,
    format_percent,
    format_percentage_points,
    suppress_small_cells,
)

HEADLINE = -0.04231187396514237
"""The headline estimate, written at full precision in the report (as a results.json would hold it)."""
HEADLINE_SE = 0.0121043
SECTION_TITLES = (
    "Summary of findings",
    "Design and estimand",
    "Impact estimates",
    "Subgroups",
    "Sensitivity",
    "Reproducibility",
)


def _figures(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    fig, ax = new_figure()
    x = np.linspace(-1, 1, 41)
    y = 0.18 - 0.05 * (x >= 0) + 0.04 * x + rng.normal(0, 0.006, x.size)
    ax.scatter(x[x < 0], y[x < 0], color=PALETTE["control"], s=14, label="not funded")
    ax.scatter(x[x >= 0], y[x >= 0], color=PALETTE["treated"], s=14, label="funded")
    ax.axvline(0, color=PALETTE["neutral"], linewidth=1, linestyle="--")
    ax.set_xlabel("grant score relative to the cutoff")
    ax.set_ylabel("dropout rate")
    ax.legend()
    rd = save_figure(fig, folder / "rd_plot.png")
    fig, ax = new_figure(height=3.2)
    events = np.arange(-4, 5)
    est = np.where(events < 0, rng.normal(0, 0.01, events.size), 0.03 + 0.01 * events)
    ax.errorbar(events, est, yerr=0.02, fmt="o", color=PALETTE["treated"], capsize=3)
    ax.axhline(0, color=PALETTE["neutral"], linewidth=1)
    ax.set_xlabel("years since the pathway launched")
    ax.set_ylabel("effect on earnings (log points)")
    es = save_figure(fig, folder / "event_study.svg")
    return {"rd": rd.relative_to(folder.parent).as_posix(), "es": es.relative_to(folder.parent).as_posix()}


def build_sample(folder: Path) -> tuple[QmdDocument, Path]:
    """Build the sample document and its figures under ``folder``; returns the document and the .qmd path."""
    figures = _figures(folder / "figures")
    doc = QmdDocument(
        "Impact of the career pathway grants",
        subtitle="Sample report: regression discontinuity on dropout, with $ amounts & 100% of cells",
        authors=["cteimpact test suite"],
    )
    doc.heading("Summary of findings", label="sec-summary")
    doc.paragraph(
        f"Funded consortia reduced dropout by {format_percentage_points(-HEADLINE, signed=False)} "
        f"(95% robust CI {format_ci(-0.0661, -0.0185, se=HEADLINE_SE)}; {doc.ref('tbl-impacts')}). "
        f"The jump at the cutoff is visible in {doc.ref('fig-rd')}; the design is set out in {doc.ref('sec-design')} "
        f"and the checks in {doc.ref('sec-sensitivity')}."
    )
    doc.callout(
        f"Payments due under the contract: **{format_money(2_483_911.5)}** "
        f"({format_money(2_483_911.5, compact=True)}); the probability that the dropout threshold is met is "
        f"{format_percent(0.873)}.",
        kind="important",
        title="Bottom line for the payor",
    )
    doc.heading("Design and estimand", label="sec-design")
    doc.paragraph(
        "Grant scores were assigned by a rubric; consortia at or above the cutoff were funded. The estimand is the "
        "intention-to-treat effect of funding at the cutoff on the 9th-grade cohorts entering after the award."
    )
    doc.heading("Bandwidth", level=2, label="sec-bandwidth")
    doc.text("Bandwidths are MSE-optimal (rdrobust); students_with_id & other *literal* text stay as written.")
    doc.heading("Impact estimates", label="sec-impacts")
    impacts = pd.DataFrame(
        {
            "Outcome": ["Dropout", "Graduation", "Earnings at 19"],
            "Estimate": [format_effect(HEADLINE, se=HEADLINE_SE), format_effect(0.0512, se=0.0144),
                         format_money(1183.4)],
            "SE": [format_effect(HEADLINE_SE, se=HEADLINE_SE), format_effect(0.0144, se=0.0144), format_money(402.7)],
            "95% CI (robust)": [format_ci(-0.0661, -0.0185, se=HEADLINE_SE), format_ci(0.0223, 0.0801, se=0.0144),
                                f"[{format_money(395.0)}, {format_money(1972.0)}]"],
            "p": [format_p_value(0.00047), format_p_value(0.0004), format_p_value(0.0032)],
            "Effective N": [format_count(18234), format_count(18234), format_count(11876)],
        }
    )
    doc.table(
        impacts,
        caption="Impact of funding at the cutoff (robust bias-corrected inference, clustered by consortium)",
        label="tbl-impacts",
        note="Estimates are local to the cutoff. Effective N: students within the bandwidth.",
    )
    doc.paragraph(f"The headline estimate at full precision is {format_full(HEADLINE)}.")
    doc.figure(figures["rd"], caption="Dropout rate by grant score (binned means)", label="fig-rd", width="85%")
    doc.heading("Subgroups", label="sec-subgroups")
    sub = pd.DataFrame(
        {
            "Subgroup": ["Female", "Female", "Low income", "Low income", "English learner", "English learner"],
            "Level": ["no", "yes", "no", "yes", "no", "yes"],
            "Students": [9120, 9114, 6003, 12231, 17998, 7],
            "Dropout rate": [0.171, 0.142, 0.121, 0.177, 0.155, 0.41],
        }
    )
    doc.table(
        suppress_small_cells(sub, n_column="Students", by="Subgroup"),
        caption="Dropout rate by subgroup",
        label="tbl-subgroups",
        formatters={"Dropout rate": format_percent},
    )
    doc.heading("Sensitivity", label="sec-sensitivity")
    doc.paragraph(f"{doc.ref('fig-es')} shows the event study; {doc.ref('tbl-bandwidths')} varies the bandwidth.")
    doc.figure(figures["es"], caption="Event study of earnings around the pathway launch", label="fig-es")
    rows = []
    for h in np.linspace(0.5, 2.0, 31):
        rows.append({"Bandwidth (× optimal)": f"{h:.2f}", "Estimate": format_effect(HEADLINE * (1 + 0.1 * (h - 1)),
                     se=HEADLINE_SE), "CI": format_ci(HEADLINE - 0.024 / h, HEADLINE + 0.024 / h, se=HEADLINE_SE),
                     "Students": format_count(int(18234 * h))})
    doc.table(pd.DataFrame(rows), caption="Bandwidth sensitivity", label="tbl-bandwidths")
    doc.callout("The density test does not reject continuity of the score at the cutoff (p = 0.61).", kind="tip")
    doc.callout("Two consortia were scored twice; the second score is used.", kind="warning")
    doc.heading("Reproducibility", label="sec-repro", numbered=False)
    doc.bullets(["Seed: `20240611`", "Command: `cteimpact run analyses/ccpt-dropout-rd.toml --out run/`"])
    path = doc.write(folder / "sample.qmd")
    return doc, path


if __name__ == "__main__":  # pragma: no cover - manual look at the output
    from cteimpact.reporting import render

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "sample-report")
    _, qmd = build_sample(out)
    print(render(qmd).to_dict())
