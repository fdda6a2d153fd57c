"""Sections of the impact-study report and of the validator's certificate, each a function that adds its headings,
text, tables and figures to a :class:`~cteimpact.reporting.sections.context.ReportContext`.

Every number shown comes from the run's ``results.json``, ``manifest.json`` or ``certificate.json``.
"""
