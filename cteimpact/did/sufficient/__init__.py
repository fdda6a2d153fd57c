"""Estimation where the data live: difference-in-differences from sufficient statistics computed by an SQL engine."""
