"""cteimpact's configuration files (analysis specifications, payment contracts, economic defaults): TOML reading,
the strict model base and one-line validation errors, in :mod:`cteimpact.config.toml`."""

from cteimpact.config.toml import (
    ConfigModel,
    describe_input,
    describe_validation_error,
    parse_toml,
    read_toml,
    validate,
)

__all__ = ["ConfigModel", "describe_input", "describe_validation_error", "parse_toml", "read_toml", "validate"]
