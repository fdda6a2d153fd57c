"""Column dictionary of the synthetic data files and their Parquet schemas."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

__all__ = ["CODEBOOK", "COLUMN_MAPS", "SCHEMAS"]

# file -> column -> (arrow type, contract role or None, description)
_COLUMNS: dict[str, dict[str, tuple[pa.DataType, str | None, str]]] = {
    "students": {
        "student_id": (pa.string(), "student_id", "Synthetic student identifier."),
        "school_id": (pa.string(), "school", "High school."),
        "district_id": (pa.string(), "district", "School district."),
        "consortium_id": (pa.string(), "consortium", "CCPT applicant consortium (cluster of the RD design)."),
        "cohort": (pa.int16(), "cohort", "Year of entry into 9th grade (2010–2021)."),
        "female": (pa.int8(), "female", "1 if female."),
        "race_ethnicity": (pa.string(), "race_ethnicity", "Race/ethnicity (missing for about 1%)."),
        "low_income": (pa.int8(), "low_income", "1 if socio-economically disadvantaged."),
        "english_learner": (pa.int8(), "english_learner", "1 if an English learner."),
        "special_ed": (pa.int8(), "special_education", "1 if the student has an IEP."),
        "prior_achievement": (pa.float64(), "prior_achievement",
                              "8th-grade achievement, standardised (missing for about 3%)."),
        "grade_at_entry": (pa.int8(), "grade_at_entry",
                           "Grade (9–12) in which the student entered the district's high school (pre-treatment; "
                           "about 85% enter in 9th grade, the rest transfer in)."),
        "pathway": (pa.int8(), "pathway", "1 if the student participated in a CTE pathway."),
        "concentrator": (pa.float64(), "concentrator",
                         "1 if a Perkins V CTE concentrator (two or more courses in a single pathway); missing if "
                         "the student left."),
        "dropout": (pa.float64(), "dropout", "1 if dropped out within four years; missing if the student left."),
        "graduated": (pa.float64(), "graduation", "1 if graduated within four years; missing if the student left."),
        "completer": (pa.float64(), "pathway_completion",
                      "1 if the student completed the pathway's course sequence (interim outcome); missing if the "
                      "student left."),
        "credential": (pa.float64(), "credential",
                       "1 if the student earned an industry-recognised credential by the end of high school; missing "
                       "if the student left."),
        "dual_credits": (pa.float64(), "dual_enrollment_credits",
                         "Dual-enrollment college credits earned in high school (multiples of 3); missing if the "
                         "student left."),
        "postsecondary": (pa.float64(), "postsecondary_enrollment",
                          "1 if enrolled in postsecondary education within a year of expected graduation; missing "
                          "if the student left."),
        "earnings_age19": (pa.float64(), "earnings",
                           "Earnings (dollars) in the year the student turned 19; missing if not observed."),
        "employed_age19": (pa.float64(), "employed", "1 if any covered employment at 19; missing if not observed."),
        **{f"earnings_age{age}": (pa.float64(), None,
                                  f"Earnings (dollars) in the year the student turned {age}; missing if not observed "
                                  "(left the records, or that year is after the last year of wage records).")
           for age in range(20, 27)},
        "grant_round": (pa.int8(), None, "CCPT grant round the consortium applied in (1 or 2)."),
        "rubric_score": (pa.float64(), "score", "Consortium's grant rubric score (running variable)."),
        "cutoff": (pa.float64(), "cutoff", "Funding cutoff of the consortium's round."),
        "score_centered": (pa.float64(), None, "rubric_score − cutoff (normalised running variable, cutoff 0)."),
        "award": (pa.int8(), "award", "1 if the consortium was funded (score ≥ cutoff)."),
        "award_year": (pa.int16(), None, "Year the round's awards were made (2014 or 2015)."),
        "first_treated": (pa.int16(), "first_treated", "Year the student's district launched a pathway; 0 = never."),
    },
    "enrollment": {
        "student_id": (pa.string(), "student_id", "Synthetic student identifier."),
        "year": (pa.int16(), "year", "School year (fall year)."),
        "grade": (pa.int8(), "grade", "Grade level (a fifth year is recorded as grade 12)."),
        "school_id": (pa.string(), "school", "High school."),
    },
    "wages": {
        "student_id": (pa.string(), "student_id", "Synthetic student identifier."),
        "year": (pa.int16(), "year", "Calendar year of the wage record."),
        "age": (pa.int8(), "age", "Age in that year (19–26)."),
        "earnings": (pa.float64(), "earnings", "Annual covered earnings in whole dollars (0 if none)."),
        "employed": (pa.int8(), "employed", "1 if any covered employment in the year."),
    },
    "district_panel": {
        "district_id": (pa.string(), "district", "School district (the DiD unit)."),
        "consortium_id": (pa.string(), "consortium", "Consortium (cluster)."),
        "cohort": (pa.int16(), "cohort", "9th-grade entry cohort (the DiD time, 2010–2020)."),
        "first_treated": (pa.int16(), "first_treated", "District's pathway launch year; 0 = never."),
        "n_students": (pa.int64(), None, "Students in the cell."),
        "n_observed": (pa.int64(), None, "Students with observed high-school outcomes."),
        "earnings_age19": (pa.float64(), None, "Mean earnings at 19 of observed students."),
        "employed_age19": (pa.float64(), None, "Employment rate at 19."),
        "dropout": (pa.float64(), None, "Dropout rate."),
        "graduated": (pa.float64(), None, "Four-year graduation rate."),
        "low_income": (pa.float64(), None, "Share low-income."),
        "prior_achievement": (pa.float64(), None, "Mean prior achievement."),
        "n_observed_age19": (pa.int64(), None, "Students with observed earnings and employment at 19."),
        "earnings_age19_sd": (pa.float64(), None,
                              "Student-level standard deviation of earnings at 19 in the cell (divisor n − 1, "
                              "n = n_observed_age19; 0 for one student)."),
        "employed_age19_sd": (pa.float64(), None,
                              "Student-level standard deviation of employment at 19 (n = n_observed_age19)."),
        "dropout_sd": (pa.float64(), None, "Student-level standard deviation of dropout (n = n_observed)."),
        "graduated_sd": (pa.float64(), None, "Student-level standard deviation of graduation (n = n_observed)."),
    },
    "consortia": {
        "consortium_id": (pa.string(), "consortium", "Consortium."),
        "grant_round": (pa.int8(), None, "Grant round."),
        "award_year": (pa.int16(), None, "Award year."),
        "rubric_score": (pa.float64(), "score", "Rubric score."),
        "cutoff": (pa.float64(), "cutoff", "Round's funding cutoff."),
        "award": (pa.int8(), "award", "1 if funded."),
        "n_districts": (pa.int64(), None, "Member districts."),
        "n_schools": (pa.int64(), None, "Member high schools."),
    },
    "districts": {
        "district_id": (pa.string(), "district", "District."),
        "consortium_id": (pa.string(), "consortium", "Consortium."),
        "first_treated": (pa.int16(), "first_treated", "Pathway launch year; 0 = never."),
    },
}

SCHEMAS: dict[str, pa.Schema] = {
    name: pa.schema([(col, typ) for col, (typ, _, _) in cols.items()]) for name, cols in _COLUMNS.items()
}
"""Arrow schema of each file (fixed, so every chunk and every run writes the same types)."""

COLUMN_MAPS: dict[str, dict[str, str]] = {
    name: {role: col for col, (_, role, _) in cols.items() if role is not None} for name, cols in _COLUMNS.items()
}
"""Contract role → column for each file (usable as :class:`~cteimpact.data.ColumnMap`)."""

CODEBOOK: dict[str, Any] = {
    "description": "Synthetic student records calibrated to the California Career Pathways Trust (see truth.json).",
    "files": {
        name: {
            "columns": [{"name": col, "type": str(typ), "role": role, "description": desc}
                        for col, (typ, role, desc) in cols.items()],
            "column_map": COLUMN_MAPS[name],
        }
        for name, cols in _COLUMNS.items()
    },
}
"""Everything written to codebook.json."""
