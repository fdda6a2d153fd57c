"""Progress of a run's steps on stderr (never inside an artefact)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Prints ``[step k/n] what … done in 1.2 s`` lines to a stream (stderr by default); silent when disabled."""

    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._k = 0

    def note(self, message: str) -> None:
        if self.enabled:
            print(f"  {message}", file=self.stream, flush=True)

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self._k += 1
        start = time.perf_counter()
        if self.enabled:
            print(f"[{self._k}/{self.total}] {what} ...", file=self.stream, flush=True)
        yield
        if self.enabled:
            print(f"[{self._k}/{self.total}] {what}: done in {time.perf_counter() - start:.1f} s",
                  file=self.stream, flush=True)
