"""Command-line interface: ``cteimpact`` and one module per subcommand."""
