"""Full-precision, deterministic JSON for results.

Floats are written with Python's shortest round-trip representation, so a value read back is bit-for-bit the
value written. NaN and infinities (which JSON cannot hold) become ``null``. Keys keep insertion order; no
timestamps are ever added.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["dumps_json", "to_jsonable", "write_json"]


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` (numpy, pandas, dataclasses, tuples, ...) to plain JSON types at full precision."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if hasattr(obj, "to_dict") and callable(obj.to_dict) and not isinstance(obj, Mapping):
        return to_jsonable(obj.to_dict())
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if pd.isna(obj):
        return None
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def dumps_json(obj: Any) -> str:
    """Deterministic JSON text (2-space indent, UTF-8, trailing newline) of :func:`to_jsonable` of ``obj``."""
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(obj: Any, path: str | Path) -> Path:
    """Write :func:`dumps_json` of ``obj`` to ``path`` (bytes are identical for identical content)."""
    path = Path(path)
    path.write_text(dumps_json(obj), encoding="utf-8", newline="\n")
    return path
