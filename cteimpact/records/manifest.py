"""The run's manifest (``manifest.json``): how the run was made — the command, the resolved specification and its
hash, the seeds, the inputs and outputs with their hashes, the software."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cteimpact.records._base import Num, Record, RecordMap, Scalar, Text

__all__ = ["Code", "Environment", "FileEntry", "Manifest", "Seeds", "file_name"]


def file_name(path: str | None) -> str:
    """The name of the file at ``path`` without its folders (``/`` or ``\\`` separated; ``""`` for None)."""
    return str(path or "").replace("\\", "/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FileEntry(Record):
    """An input or output file with its hash (``role`` for inputs: ``data``, ``contract``, ``specification``)."""

    path: Text | None = None
    role: Text | None = None
    name: Text | None = None
    sha256: Text | None = None
    bytes: Num | None = None
    records: Num | None = None

    @property
    def file_name(self) -> str:
        """The file's name without its folders (``students.parquet``)."""
        return str(self.name or file_name(self.path))


@dataclass(frozen=True)
class Seeds(Record):
    master: Num | None = None
    derived: Mapping[str, Scalar | None] = field(default_factory=RecordMap)
    """Stream name → seed (shown as recorded)."""


@dataclass(frozen=True)
class Environment(Record):
    python: Text | None = None
    implementation: Text | None = None
    platform: Text | None = None
    packages: Mapping[str, Text | None] = field(default_factory=RecordMap)


@dataclass(frozen=True)
class Code(Record):
    cteimpact: Text | None = None
    git_commit: Text | None = None
    git_dirty: bool | None = None


@dataclass(frozen=True)
class Manifest(Record):
    """``manifest.json``."""

    schema: Text | None = None
    study: Text | None = None
    command: Text | None = None
    run_date: Text | None = None
    """The date of the run (``YYYY-MM-DD``)."""
    specification: Mapping[str, Any] = field(default_factory=RecordMap)
    """The fully resolved specification (shown as it is recorded)."""
    spec_sha256: Text | None = None
    seed: Seeds | None = None
    inputs: tuple[FileEntry, ...] = ()
    environment: Environment | None = None
    code: Code | None = None
    outputs: tuple[FileEntry, ...] = ()

    def inputs_of(self, role: str) -> list[FileEntry]:
        return [i for i in self.inputs if i.role == role]
