"""Imported last by the fork server of ``cteimpact demo``, after the modules it preloads: the fits of the workers run
in their own process, and the garbage of the imports is collected and every object left is frozen
(:func:`gc.freeze`).

The demo runs as many tasks as there are cores side by side, so a task's RD diagnostics run in the task's process
(:func:`cteimpact.rd._parallel.set_default_jobs`) instead of in a pool of processes forked from it, which would only
add the cost of forking and of sending the data to the pool.

The workers forked from the fork server start with the frozen objects (a quarter of a million: the modules of the
pipeline, pandas, matplotlib, the reference packages) outside the garbage collector's generations, so that

* a full collection in a worker (two or three in a study's run) traverses only the objects the task made, not the
  imported ones again (about 0.1 s of CPU each, measured on the 2-core machine, December 2026); and
* a collection writes nothing into the frozen objects' headers, so the memory pages holding them stay shared
  with the fork server instead of being copied into each worker.

Nothing a task computes depends on when the garbage collector runs, so the outputs are the same.
"""

from __future__ import annotations

import gc

from cteimpact.rd._parallel import set_default_jobs

__all__ = ["FROZEN"]

set_default_jobs(1)
gc.collect()
gc.freeze()

FROZEN: int = gc.get_freeze_count()
"""How many objects were frozen."""
