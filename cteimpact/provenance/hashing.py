"""Content hashes and record counts of input and output files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

__all__ = ["count_records", "describe_file", "sha256_bytes", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (memory stays bounded for large files)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def count_records(path: str | Path) -> int | None:
    """Data records in a file: Parquet rows from the footer, CSV lines after the header; ``None`` otherwise.

    CSV counting assumes no embedded newlines inside quoted fields (true of the files cteimpact reads and writes).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if name.endswith(".csv.gz"):
        import gzip

        with gzip.open(path, "rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(_CHUNK), b""))
        return max(lines - 1, 0)
    if name.endswith(".csv"):
        with path.open("rb") as f:
            lines = 0
            last = b""
            for block in iter(lambda: f.read(_CHUNK), b""):
                lines += block.count(b"\n")
                last = block
        if last and not last.endswith(b"\n"):
            lines += 1
        return max(lines - 1, 0)
    return None


def describe_file(path: str | Path, *, relative_to: str | Path | None = None) -> dict[str, Any]:
    """``{path, sha256, bytes, records}`` of a file (``path`` relative to ``relative_to`` when given)."""
    path = Path(path)
    shown = path.relative_to(relative_to).as_posix() if relative_to is not None else path.as_posix()
    return {"path": shown, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "records": count_records(path)}
