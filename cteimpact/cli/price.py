"""``cteimpact price``: price a Pay-for-Success contract on an estimate.

::

    cteimpact price CONTRACT.toml --effect E --se S [--label L] [--draws N] [--seed K] --json
    cteimpact price CONTRACT.toml --results RESULTS.json [--estimate-source SRC] [--map a=b] --json

``CONTRACT`` is a contract TOML file, or ``example:NAME`` for a shipped example (``example:schedule_rikers``,
``example:two_payor_chicago_cpc``, ``example:rate_card_uk_innovation_fund``).

``--results`` reads a results record (schema ``cteimpact.results/1``) or any JSON file holding such records (for
example a run directory's ``results.json``; a directory is read as ``DIR/results.json``). Every record in the file is
found wherever it sits; each estimate label the contract needs is taken from the one record that has it. When
several records have a label, ``--estimate-source`` names the one(s) to use, by their position in the file
(``results.rd``), their last key (``rd``) or their design (``rd``, ``did``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from cteimpact.cli.options import CommaList, check_output_file, echo_json
from cteimpact.errors import OptionError, SpecificationError
from cteimpact.pipeline.run_directory import read_record
from cteimpact.pricing import DEFAULT_DRAWS, DEFAULT_SEED, example_contract, load_contract, price_contract
from cteimpact.pricing.contract import Contract
from cteimpact.results import RESULTS_SCHEMA, ExternalEstimate, ResultsRecord

__all__ = ["command", "find_results_records", "select_results"]


def _records(node: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(node, Mapping):
        if node.get("schema") == RESULTS_SCHEMA:
            yield path or "$", node
            return
        for key, val in node.items():
            yield from _records(val, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, val in enumerate(node):
            yield from _records(val, f"{path}[{i}]")


def _missing_centres(rec: Mapping[str, Any]) -> list[str]:
    """Labels of a record's sampling distribution whose centre is missing (``null``: suppressed or not estimated)."""
    dist = rec.get("sampling_distribution")
    if not isinstance(dist, Mapping) or not isinstance(dist.get("mean"), list) or \
            not isinstance(dist.get("labels"), list):
        return []
    return [str(lab) for lab, m in zip(dist["labels"], dist["mean"], strict=False) if m is None]


def find_results_records(data: Any) -> list[tuple[str, ResultsRecord]]:
    """Every results record in a JSON document, with its position (``$`` for the document itself)."""
    out = []
    for where, rec in _records(data, ""):
        missing = _missing_centres(rec)
        if missing:
            raise SpecificationError(
                f"results record {where}: the estimate{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"{'have' if len(missing) > 1 else 'has'} no finite estimate and standard error in the sampling "
                "distribution (suppressed or not estimated), so the record cannot be priced")
        out.append((where, ResultsRecord.from_dict(rec)))
    return out


def _matches(where: str, rec: ResultsRecord, name: str) -> bool:
    last = where.rsplit(".", 1)[-1].split("[", 1)[0]
    return name in (where, last, rec.record_design)


def select_results(found: list[tuple[str, ResultsRecord]], contract: Contract, *,
                   sources: list[str] | None, labels: Mapping[str, str], origin: str) -> list[ResultsRecord]:
    """The records that supply the contract's estimate labels (see the module docstring)."""
    if not found:
        raise SpecificationError(f"{origin} holds no results record (schema '{RESULTS_SCHEMA}')")
    listing = ", ".join(f"{w} ({r.record_design})" for w, r in found)
    if sources:
        chosen = []
        for name in sources:
            hits = [(w, r) for w, r in found if _matches(w, r, name)]
            if not hits:
                raise OptionError(f"--estimate-source '{name}' matches no results record in {origin}; records: "
                                  f"{listing}")
            if len(hits) > 1:
                raise OptionError(f"--estimate-source '{name}' matches {len(hits)} records in {origin} "
                                  f"({', '.join(w for w, _ in hits)}); name one by its position")
            chosen.append(hits[0])
        return [r for _, r in chosen]
    from cteimpact.pricing.engine import required_labels

    # every label the contract draws: its outcomes', its equity terms' group estimates and its benefit streams'
    # (a surrogate projection sits in its own record of a run); a group estimate no record has is left to pricing,
    # which names the group, the outcome and the subgroup estimates there are
    outcomes = [labels.get(o.estimate, o.estimate) for o in contract.outcomes]
    streams = ([labels.get(st.estimate, st.estimate) for st in contract.benefits.streams if st.estimate is not None]
               if contract.benefits is not None else [])
    needed = required_labels(contract, labels)
    chosen_paths: list[str] = []
    for lab in needed:
        having = [w for w, r in found if lab in r.labels]
        if not having and lab not in outcomes and lab not in streams:
            continue
        if not having:
            available = sorted({lab2 for _, r in found for lab2 in r.labels})
            raise SpecificationError(
                f"no results record in {origin} has an estimate labelled '{lab}' (labels available: "
                f"{', '.join(available)}); map it with --map {lab}=LABEL"
            )
        if len(having) > 1 and "design" in having:
            # a run's equity record and its projection repeat some of the design's labels (the same estimates):
            # the design's record is the one its pricing drew from
            having = ["design"]
        if len(having) > 1:
            raise OptionError(f"the estimate '{lab}' is in {len(having)} records of {origin} ({', '.join(having)}); "
                              "choose with --estimate-source")
        if having[0] not in chosen_paths:
            chosen_paths.append(having[0])
    return [r for w, r in found if w in chosen_paths]


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            if "=" not in part or not part.split("=", 1)[0].strip() or not part.split("=", 1)[1].strip():
                raise OptionError(f"{what} takes NAME=VALUE pairs, got {part!r}")
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _contract_path(contract: str) -> Path:
    if contract.startswith("example:"):
        return example_contract(contract.removeprefix("example:"))
    return Path(contract)


@click.command("price")
@click.argument("contract", metavar="CONTRACT")
@click.option("--effect", type=float, default=None, help="Estimated effect (estimate units) to price on.")
@click.option("--se", "std_error", type=float, default=None, help="Standard error of --effect.")
@click.option("--label", default=None,
              help="Label of --effect (default: the estimate label of the contract's only outcome).")
@click.option("--results", "results_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Results JSON (a results record, or a file or run directory holding several).")
@click.option("--estimate-source", "sources", type=CommaList(), default=None,
              help="Which results record(s) in --results to use: position (results.rd), key or design.")
@click.option("--map", "maps", multiple=True, metavar="CONTRACT_LABEL=RESULTS_LABEL",
              help="Use a results label for a contract label (repeatable, or comma-separated).")
@click.option("--mde", "mdes", multiple=True, metavar="OUTCOME=VALUE",
              help="Minimum detectable effect from the design for an outcome (repeatable).")
@click.option("--draws", type=int, default=DEFAULT_DRAWS, show_default=True,
              help="Monte Carlo draws: at least 1,000, and no more than fit in memory (checked before drawing).")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True,
              help="Random seed (same seed, same output).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the full JSON to this file.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the payment curve, payment distribution and payor figures (PNG) to this folder.")
def command(contract: str, effect: float | None, std_error: float | None, label: str | None,
            results_path: Path | None, sources: list[str] | None, maps: tuple[str, ...], mdes: tuple[str, ...],
            draws: int, seed: int, as_json: bool, output: Path | None, plots_dir: Path | None) -> None:
    """Price a Pay-for-Success CONTRACT (TOML file, or example:NAME) on an estimated impact.

    Give the impact either as --effect and --se, or as --results from an RD/DiD run.
    """
    if output is not None:
        check_output_file(output, "--output")
    spec = load_contract(_contract_path(contract))
    labels = _pairs(maps, "--map")
    mde: dict[str, float] = {}
    for k, v in _pairs(mdes, "--mde").items():
        try:
            mde[k] = float(v)
        except ValueError:
            raise OptionError(f"--mde {k}={v}: the value must be a number") from None
    estimates: Any
    if results_path is not None:
        if effect is not None or std_error is not None:
            raise OptionError("give either --results or --effect/--se, not both")
        path = results_path / "results.json" if results_path.is_dir() else results_path
        if not path.is_file():
            raise SpecificationError(f"results directory '{results_path}' has no results.json")
        # bounded size and nesting: the file may be anyone's
        data = read_record(path, path.name, path.parent, follow_links=True)
        estimates = select_results(find_results_records(data), spec, sources=sources, labels=labels,
                                   origin=f"'{path.name}'")
    else:
        if effect is None or std_error is None:
            raise OptionError("give the impact to price: --effect and --se, or --results")
        if sources:
            raise OptionError("--estimate-source applies only to --results")
        if label is None:
            if len(spec.outcomes) != 1:
                raise OptionError(f"the contract prices {len(spec.outcomes)} outcomes "
                                  f"({', '.join(o.estimate for o in spec.outcomes)}); --effect/--se gives one "
                                  "estimate: use --results for several")
            label = labels.get(spec.outcomes[0].estimate, spec.outcomes[0].estimate)
        estimates = ExternalEstimate(label=label, effect=effect, std_error=std_error, source="command line")
    res = price_contract(spec, estimates, draws=draws, seed=seed, labels=labels or None, mde=mde or None)
    if output is not None:
        from cteimpact.results import write_json

        write_json(res.to_dict(), output)
    if plots_dir is not None:
        from cteimpact.plotting import save_figure

        plots_dir.mkdir(parents=True, exist_ok=True)
        save_figure(res.plot("curve"), plots_dir / "payment_curve.png")
        save_figure(res.plot("distribution"), plots_dir / "payment_distribution.png")
        save_figure(res.plot("payors"), plots_dir / "payor_benefits.png")
    if as_json:
        echo_json(res.to_dict())
    else:
        click.echo(res.summary())
