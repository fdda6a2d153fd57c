"""Equity analysis: subgroup effects, difference tests, multiplicity control, access gaps, small-cell suppression."""
