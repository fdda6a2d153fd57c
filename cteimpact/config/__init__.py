"""cteimpact's configuration files (analysis specifications, payment contracts, economic defaults): TOML reading,
the strict model base and one-line validation errors, in :mod:`cteimpact.config.toml`; paths named inside them,
which stay inside their folder, in :mod:`cteimpact.config.paths`."""

from cteimpact.config.paths import resolve_inside
from cteimpact.config.toml import (
    ConfigModel,
    describe_input,
    describe_validation_error,
    parse_toml,
    read_toml,
    validate,
)

__all__ = ["ConfigModel", "describe_input", "describe_validation_error", "parse_toml", "read_toml", "resolve_inside",
           "validate"]
