"""The demo runs each study in a worker process; an error raised there is raised again in the parent with its
message (and its own class when the class takes a message), so the CLI still prints one line and exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cteimpact.cli.demo_tasks import raise_again as _raise_again
from cteimpact.errors import DataValidationError, DesignError, MissingColumnError


def test_error_taking_a_message_keeps_its_class() -> None:
    with pytest.raises(DesignError, match=r"^too few clusters: 3$"):
        _raise_again(DesignError, "too few clusters: 3")


def test_error_with_other_arguments_becomes_its_base_with_the_same_message() -> None:
    message = str(MissingColumnError("score", ["a", "b"]))
    with pytest.raises(DataValidationError) as caught:
        _raise_again(MissingColumnError, message)
    assert str(caught.value) == message
    assert not isinstance(caught.value, MissingColumnError)


def test_the_longest_chain_starts_first() -> None:
    """The credentials study's run and re-computation head the queue (the longest chains); a report comes after
    the verification it needs; an unknown study counts one second per task."""
    from pathlib import Path

    from cteimpact.cli.demo_tasks import CPU_SECONDS, StudyJob, priorities
    from cteimpact.pipeline.studies import SHIPPED_STUDIES

    jobs = [StudyJob(name, Path(f"{name}.toml"), Path(name), Path("r") / name, "cmd")
            for name in (*SHIPPED_STUDIES, "other")]
    rank = priorities(jobs)
    order = sorted(rank, key=lambda t: -rank[t])
    assert set(order[:2]) == {("ccpt-credentials-rd", "run"), ("ccpt-credentials-rd", "rerun")}
    cost = CPU_SECONDS["ccpt-credentials-rd"]
    assert rank[("ccpt-credentials-rd", "rerun")] == cost["rerun"] + cost["verify"] + cost["report"]
    for name in (*SHIPPED_STUDIES, "other"):
        assert rank[(name, "run")] > rank[(name, "verify")] > rank[(name, "report")] > 0
    assert rank[("other", "run")] == 3.0


def test_the_fork_server_freezes_what_it_preloaded_last() -> None:
    """The fork server imports the freezing module after every other module it preloads (so the workers start with
    all of them outside the garbage collector's generations), and importing it freezes every object left."""
    import subprocess
    import sys

    from cteimpact.cli.demo import _WORKER_MODULES

    assert _WORKER_MODULES[-1] == "cteimpact.cli.worker_preload"
    assert "cteimpact.cli.worker_preload" not in _WORKER_MODULES[:-1]
    code = ("import gc, json, cteimpact.rd.estimator; before = gc.get_freeze_count(); "
            "import cteimpact.cli.worker_preload as w; "
            "print(json.dumps([before, w.FROZEN, gc.get_freeze_count(), len(gc.get_objects())]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, recorded, frozen, tracked = json.loads(done.stdout)
    assert before == 0
    assert recorded > 10_000  # the estimator's imports (pandas, numpy, the package) are frozen
    assert abs(frozen - recorded) < 100  # still frozen after the import (a frozen object freed leaves the count)
    assert tracked < 1_000  # what the garbage collector still tracks: the few objects made after the freeze


def test_the_synthetic_data_are_drawn_with_the_imports_frozen_and_unfrozen_after(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import gc

    import cteimpact.synth
    from cteimpact.cli import demo

    seen: list[int] = []

    def generate(out: Path, **kwargs: object) -> None:
        seen.append(gc.get_freeze_count())
        assert kwargs == {"seed": 3, "scale": 0.5, "truth_process": True}

    monkeypatch.setattr(cteimpact.synth, "generate", generate)
    assert gc.get_freeze_count() == 0
    demo._synthesise(tmp_path, seed=3, scale=0.5)
    assert len(seen) == 1 and seen[0] > 10_000
    assert gc.get_freeze_count() == 0


def test_the_demo_process_imports_no_estimator_or_matplotlib_for_its_own_part() -> None:
    """The demo's own process (the synthetic data, the shipped studies, the validator, the index) does not import
    the pipeline's run, the estimators or matplotlib: its workers do (the fork server preloads them)."""
    import subprocess
    import sys

    code = ("import json, sys, cteimpact.cli.app, cteimpact.cli.demo, cteimpact.synth; "
            "from cteimpact.pipeline.certificate import Validator; "
            "from cteimpact.pipeline.studies import SHIPPED_STUDIES, copy_shipped_studies; "
            "from cteimpact.reporting.demo_index import write_demo_index; "
            "print(json.dumps([m for m in ('cteimpact.pipeline.run', 'cteimpact.pipeline.verify', "
            "'cteimpact.rd.estimator', 'cteimpact.did.estimator', 'matplotlib') if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_pipeline_package_gives_each_name_from_its_module_on_first_use() -> None:
    import importlib

    import cteimpact.pipeline as pipeline

    for name in pipeline.__all__:
        value = getattr(pipeline, name)
        assert value is getattr(importlib.import_module(pipeline._LAZY[name]), name)
        assert name in dir(pipeline)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        pipeline.no_such_name  # noqa: B018
