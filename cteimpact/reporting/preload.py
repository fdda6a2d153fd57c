"""Compile the package's report templates now (:func:`~cteimpact.reporting.templating.compile_package_templates`).

Imported by processes that render reports later: the fork server of ``cteimpact demo`` imports it once, so that the
workers forked from it render their reports without compiling the templates again.
"""

from __future__ import annotations

from cteimpact.reporting.templating import compile_package_templates

COMPILED: int = compile_package_templates()
"""How many templates were compiled."""
