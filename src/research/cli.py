"""The ``research`` command: stage runner and utilities that are not stages."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _notebook(args: argparse.Namespace) -> int:
    """Run a stage notebook; it prints a start line and a result (or failure) line."""
    from research.stages.notebook import run_notebook

    try:
        run_notebook(args.stage, model=args.model, console=True)
    except Exception as err:
        from research.stages._summary import reported

        if not reported(err):  # refused before it started: the usual one-line refusal
            raise
        if not _is_notebook_error(err):  # the runner's own fault: its traceback helps
            import traceback

            traceback.print_exception(err)
        return 1
    return 0


def _is_notebook_error(err: BaseException) -> bool:
    """A cell's exception (papermill's error): the executed notebook shows its traceback."""
    return type(err).__name__ == "PapermillExecutionError"


def _repro(args: argparse.Namespace) -> int:
    """``dvc repro`` with only the stages' own lines, DVC's warnings and errors, and a closing line.

    DVC's progress lines ("Running stage ...", the command, "didn't change, skipping") are
    INFO logs and its closing hint ("Use `dvc push` ...") a console write: the DVC loggers are
    set to WARNING and the console left off, as ``dvc repro --quiet`` does for the console
    (``--quiet`` also hides DVC's errors).
    """
    import logging
    import os
    import time

    from dvc.cli import main as dvc_main  # type: ignore[import-untyped]
    from dvc.ui import ui  # type: ignore[import-untyped]

    from research.paths import project_root
    from research.stages._repro import side_by_side
    from research.stages._summary import FRONT_PAGE, REPRO_ENV, duration

    jobs, dvc_args = _jobs_option(args.dvc_args)
    began = time.monotonic()
    for name in ("dvc", "dvc_objects", "dvc_data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ui.enable = lambda: None  # DVC's console stays off (its logs are not)
    os.environ[REPRO_ENV] = "1"  # the report stage leaves the pointer to the front page to us
    with side_by_side(jobs):
        code = dvc_main(["repro", *dvc_args])
    took = duration(time.monotonic() - began)
    if code != 0:
        print(f"repro: failed after {took} (exit {code}); the lines above say where", flush=True)
        return code
    front = project_root() / FRONT_PAGE
    print(f"repro: done in {took}" + (f"; open {FRONT_PAGE}" if front.exists() else ""))
    return 0


def _jobs_option(given: list[str]) -> tuple[int, list[str]]:
    """``-j N`` / ``--jobs N`` / ``--jobs=N`` (stages at a time) taken out of ``dvc repro``'s arguments."""
    from research.stages._repro import default_jobs

    jobs, rest, i = default_jobs(), [], 0
    while i < len(given):
        arg = given[i]
        value = None
        if arg in ("-j", "--jobs"):
            if i + 1 == len(given):
                raise ValueError(f"{arg} needs a number of stages to run at a time")
            value, i = given[i + 1], i + 2
        elif arg.startswith("--jobs="):
            value, i = arg.split("=", 1)[1], i + 1
        else:
            rest.append(arg)
            i += 1
            continue
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"--jobs takes a whole number of stages >= 1, not {value!r}")
        jobs = int(value)
    return jobs, rest


def _stage(args: argparse.Namespace) -> int:
    import os

    from research.stages import PIPELINE_ENV, run_stage

    os.environ[PIPELINE_ENV] = "1"
    result = run_stage(args.stage, args.model, write=True)
    for note in getattr(result, "notes", None) or []:
        print(f"note: {note}")
    if getattr(result, "as_of", None) is not None:
        print(f"as-of date: {result.as_of}")
    print(f"ran {args.stage}{'@' + args.model if args.model else ''}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    """A synthetic portfolio: written block by block (bounded memory), or as a foreign export."""
    import os

    from research.config import load_settings

    settings = load_settings()
    syn = settings.data.synthetic
    arguments: dict[str, Any] = dict(
        n_customers=args.customers or syn.n_customers,
        start=syn.start,
        months=syn.months,
        scenario=args.scenario or syn.scenario,
        transactions_per_month=syn.transactions_per_month,
        seed=settings.seed if args.seed is None else args.seed,
        default_dpd=settings.labels.default_dpd,
        horizons_months=settings.labels.horizons_months,
        progress=True,
    )
    if args.foreign:
        from research.data.synthetic import generate_portfolio

        portfolio = generate_portfolio(**arguments)
        return _write_foreign(portfolio.tables, Path(args.foreign), settings)
    from research.data.synthetic import write_portfolio

    out = Path(args.out)
    for folder in (out / "raw", out / "truth"):
        if folder.exists() and any(folder.iterdir()):
            raise SystemExit(
                f"research generate: {folder} is not empty; choose another --out or remove it "
                "(the tables are appended block by block, so an old file would be mixed in)"
            )
    workers = max(1, min(settings.compute.nthread, os.cpu_count() or 1))
    written = write_portfolio(out / "raw", out / "truth", **arguments, workers=workers)
    print(
        f"wrote {written.firms:,} firms ({sum(written.rows.values()):,} rows) to {out / 'raw'} "
        f"and the truth to {out / 'truth'}"
    )
    return 0


def _write_foreign(tables: dict[str, Any], folder: Path, settings: Any) -> int:
    """The portfolio as another bank exports it (``research.data.foreign``), labels as events."""
    from research.data.asof import synthetic_as_of
    from research.data.foreign import events_table, write_foreign_export
    from research.labels import churn_dates, default_dates

    syn = settings.data.synthetic
    as_of = synthetic_as_of(syn.start, syn.months)
    events = events_table(
        default_dates(tables["repayments"], settings.labels.default_dpd),
        churn_dates(tables["customers"]),
        as_of,
    )
    written = write_foreign_export(tables, events, folder, as_of=as_of)
    files = sorted({p.relative_to(folder).parts[0] for p in written})
    print(
        f"wrote the foreign-shaped export ({', '.join(files)}; as of {as_of}) to {folder}; "
        "read it through examples/foreign_bank/mapping.yaml"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    import json
    from collections.abc import Callable

    from research.data.asof import (
        after_as_of_errors,
        clear_placeholders,
        event_time_counts,
        resolve_as_of,
    )
    from research.data.check import check_folder
    from research.data.mapping import read_source
    from research.data.params import source_kind
    from research.data.schema import SOURCE_ATTR, SchemaError, SchemaErrors, check_tables

    mapping = None
    late_of: Callable[..., list[SchemaError]]
    if source_kind(str(args.folder)) != "mapping":
        # A folder: read and checked table by table, without holding the tables in memory.
        folder = check_folder(args.folder)
        errors, notes, unreadable = list(folder.errors), folder.notes, folder.unreadable
        rows = {name: summary.rows for name, summary in folder.tables.items()}
        counts, late_of, outlines = folder.counts, folder.after_as_of_errors, folder.outlines()
    else:
        read = read_source(args.folder)
        for note in read.notes:
            print(f"note: {note}")
        if read.mapping is not None:
            mapping = read.mapping
            print(
                f"source: {mapping.folder} through {mapping.path}; currency {mapping.currency}"
                + (
                    f"; default definition: {mapping.default_definition}"
                    if mapping.default_definition
                    else ""
                )
            )
        raw, notes = clear_placeholders(read.frames)
        checked, found = check_tables(raw, unreadable=read.unreadable)
        errors, unreadable = read.explain([*read.errors, *found]), read.unreadable
        rows = {name: len(frame) for name, frame in checked.items()}
        counts, outlines = event_time_counts(checked), checked

        def late_of(as_of: object) -> list[SchemaError]:
            late = after_as_of_errors(checked, as_of)  # type: ignore[arg-type]
            for error in late:
                error.file = raw[error.table].attrs.get(SOURCE_ATTR)
            return late

    for note in notes:
        print(f"note: {note}")
    configured, configured_as = args.as_of or "", "--as-of"
    if not configured and mapping is not None and mapping.as_of:
        configured, configured_as = mapping.as_of, f"as_of of {mapping.path.name}"
    try:
        as_of = resolve_as_of(configured, None, None, counts=counts, configured_as=configured_as)
    except ValueError as err:
        if not errors:
            raise
        print(f"as-of date: not checked ({err})")
    else:
        print(f"as-of date: {as_of}")
        errors += late_of(as_of)
    failed = {e.table for e in errors}
    for name, count in rows.items():
        if name not in failed:
            print(f"{name}: {count:,} rows ok")
    # What the source lacks costs: optional tables and columns absent or empty, and the
    # features lost without them (tables that could not be read are reported as errors).
    from research.features.inputs import missing_input_notes

    for note in missing_input_notes(outlines):
        if note.split(".", 1)[0].split(":", 1)[0] not in unreadable:
            print(f"note: {note}")
    report: SchemaError | None = None
    if len(errors) == 1:
        report, errors = errors[0], errors[:1]
    elif errors:
        report = SchemaErrors(errors)
        errors = report.errors
    if args.json:
        records = [error.record() for error in errors]
        Path(args.json).write_text(json.dumps(records, indent=2, default=str) + "\n", "utf-8")
    if report is not None:
        print(f"research: {report}", file=sys.stderr)
    return 2 if errors else 0


def _source_fingerprint(args: argparse.Namespace) -> int:
    import json

    from research.stages import stage_context
    from research.stages.source import fingerprint_path, model_fingerprint_path, run

    ctx = stage_context(write=True)
    fingerprint = run(ctx)
    files = fingerprint.get("files", [])
    models = {
        name: json.loads(model_fingerprint_path(ctx.root, name).read_text()).get("source", "off")
        for name in ctx.settings.models
    }
    print(
        f"wrote {fingerprint_path(ctx.root).relative_to(ctx.root)}: {fingerprint['kind']} source"
        + (f", {len(files)} file(s)" if fingerprint["kind"] not in ("synthetic", "none") else "")
        + "; data/sources/<model>.json: "
        + ", ".join(f"{name} ({where})" for name, where in models.items())
    )
    return 0


def _iso_date(text: str) -> str:
    """An ``--as-of`` argument: an ISO date."""
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date (YYYY-MM-DD)") from None
    return text


def _cv(args: argparse.Namespace) -> int:
    """Repeated stratified k-fold AUC of a model's booster and challenger on its modeling table."""
    from research.models.cv import format_summary, repeated_cv
    from research.stages._context import stage_context
    from research.stages._model_rows import model_table
    from research.stages.train import monotone_directions

    ctx = stage_context(write=False)
    spec = ctx.settings.model(args.model)
    # read and prepared exactly as the train stage does (ids, constants, protected excluded)
    prepared = model_table(ctx, spec)
    features, path = prepared.features, prepared.source_path
    table = prepared.table[prepared.table[spec.label].notna()]  # censored rows measure nothing
    directions = monotone_directions(args.model, spec, features, prepared.preparation)
    ids = table[spec.id_column]
    result = repeated_cv(
        table,
        label=spec.label,
        features=features,
        xgb_settings=spec.xgb.as_dict(),
        folds=args.folds,
        repeats=args.repeats,
        seed=ctx.settings.seed if args.seed is None else args.seed,
        valid_fraction=ctx.settings.split.valid_fraction,
        directions=directions,
        nthread=ctx.settings.compute.nthread,
        groups=ids if ids.duplicated().any() else None,  # a customer's rows stay in one fold
    )
    grouped = " (grouped by " + spec.id_column + ")" if ids.duplicated().any() else ""
    print(
        format_summary(
            result,
            title=f"{args.model}: {path.name}, {len(table):,} rows, {int(table[spec.label].sum()):,} "
            f"events, {len(features)} features; {args.folds} folds x {args.repeats} repeats{grouped}",
        )
    )
    return 0


def _contract_doc(args: argparse.Namespace) -> int:
    from research.data.contract import contract_markdown
    from research.features.inputs import lost_text

    Path(args.out).write_text(contract_markdown(lost=lost_text), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def _score(args: argparse.Namespace) -> int:
    """Score new data at one date with a registered model (``research.scoring_batch``)."""
    from research import registry
    from research.paths import project_root
    from research.scoring_batch import score_batch, summary_lines

    try:
        result = score_batch(
            project_root(),
            args.model,
            data=Path(args.data),
            as_of=args.as_of,
            out=Path(args.out),
            version=args.version,
        )
    except registry.Refused as err:
        print(f"research: refused: {err}", file=sys.stderr)
        return 1
    print("\n".join(summary_lines(result)))
    return 0


def _promote(args: argparse.Namespace) -> int:
    """Move a model's ``champion`` alias behind the validation gate (``research.registry``)."""
    from research import registry
    from research.paths import project_root

    root = project_root()
    try:
        name = registry.registry_name(root, args.model)
        done = registry.promote(
            name, reviewer=args.by, version=args.version, override=args.override, root=root
        )
    except registry.Refused as err:
        print(f"research: refused: {err}", file=sys.stderr)
        return 1
    print(done.line())
    return 0


def _signoff(args: argparse.Namespace) -> int:
    """Record a reviewer's decision on a model version and its validation pack (``research.signoff``)."""
    from research import registry, signoff
    from research.paths import project_root

    root = project_root()
    try:
        registry.registry_name(root, args.model)  # a model of params.yaml, or refused
        done = signoff.record(
            root, args.model, reviewer=args.reviewer, decision=args.decision, note=args.note
        )
    except registry.Refused as err:
        print(f"research: refused: {err}", file=sys.stderr)
        return 1
    path = signoff.signoff_path(root, args.model).relative_to(root)
    print(done.line())
    print(f"recorded in {path}; commit it: git add {path} && git commit -m 'sign-off {args.model}'")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``research`` command."""
    parser = argparse.ArgumentParser(prog="research", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    nb = sub.add_parser(
        "notebook", help="run a stage notebook with params.yaml (DVC stages use this)"
    )
    nb.add_argument("stage")
    nb.add_argument(
        "--model", default=None, help="a model of params.yaml (models:), for train/explain/validate"
    )
    nb.set_defaults(func=_notebook)

    rp = sub.add_parser(
        "repro",
        help="dvc repro with one start and one result line per stage, DVC's warnings and "
        "errors, and a closing line naming the front page (make repro runs this); "
        "independent stages run side by side, -j/--jobs N at a time (default 2 on a machine "
        "with 2 cores or more; -j 1 is dvc repro's order)",
    )
    rp.add_argument("dvc_args", nargs="*", help="passed to dvc repro (its options too)")
    rp.set_defaults(func=_repro)

    st = sub.add_parser(
        "stage", help="run a stage in this process without its notebook (same outputs)"
    )
    st.add_argument("stage")
    st.add_argument(
        "--model", default=None, help="a model of params.yaml (models:), for train/explain/validate"
    )
    st.set_defaults(func=_stage)

    gen = sub.add_parser(
        "generate",
        help="write a synthetic portfolio (raw tables and truth, or a bank-style export)",
    )
    gen.add_argument("--customers", type=int, default=None)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--scenario", choices=["baseline", "downturn"], default=None)
    where = gen.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="folder; tables go to OUT/raw, truth to OUT/truth")
    where.add_argument(
        "--foreign",
        metavar="FOLDER",
        help="write the portfolio the way another bank exports it (Czech names and codes, "
        "semicolon CSV, labels only as events) to FOLDER; examples/foreign_bank/mapping.yaml "
        "reads it (its folder: is data/foreign_export)",
    )
    gen.set_defaults(func=_generate)

    val = sub.add_parser(
        "validate",
        help="check a folder of your own tables, or the export a source mapping file names, "
        "against the contract",
    )
    val.add_argument(
        "folder",
        metavar="SOURCE",
        help="a folder of tables named as the contract, or a source mapping (.yaml/.yml)",
    )
    val.add_argument(
        "--as-of",
        type=_iso_date,
        default=None,
        metavar="DATE",
        help="the extract date of the tables: records dated after it are refused "
        "(default: a mapping's as_of, else derived from the tables' dates, and printed)",
    )
    val.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="also write the failures to PATH as JSON, for tools: a list (empty when the "
        "folder passes) of {table, column, rule, count, total_rows, examples, fix, file, "
        "message}",
    )
    val.set_defaults(func=_validate)

    fp = sub.add_parser(
        "source-fingerprint",
        help="write data/source.json and data/sources/<model>.json: the files data.source and each model read (the dvc source stage)",
    )
    fp.set_defaults(func=_source_fingerprint)

    cv = sub.add_parser(
        "cv",
        help="repeated stratified k-fold AUC of a model's booster and its challenger on its "
        "modeling table (models.<name>.source), with the spread",
    )
    cv.add_argument("model", help="a model of params.yaml (models:)")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--repeats", type=int, default=3)
    cv.add_argument("--seed", type=int, default=None, help="default: params.yaml seed")
    cv.set_defaults(func=_cv)

    doc = sub.add_parser("contract-doc", help="write the input contract as Markdown")
    doc.add_argument("--out", default="docs/input_contract.md")
    doc.set_defaults(func=_contract_doc)

    sc = sub.add_parser(
        "score",
        help="score new data at one date with a registered model version (default: the "
        "champion), without running the pipeline; writes the scores, reason codes, watch-list "
        "triggers and a stability report (<out stem>_stability.json)",
    )
    sc.add_argument("model", help="a model of params.yaml (models:)")
    sc.add_argument(
        "--data",
        required=True,
        metavar="SOURCE",
        help="a folder of contract tables (as data/raw) or a source mapping (.yaml); for a "
        "model on a flat table, a Parquet or CSV file of that table's columns",
    )
    sc.add_argument(
        "--as-of",
        type=_iso_date,
        default=None,
        metavar="DATE",
        help="the snapshot date: features use the records strictly before it (required for a "
        "model on the panel; for a flat file, rows dated after it are left out)",
    )
    sc.add_argument("--out", required=True, metavar="FILE", help="the scores: .parquet or .csv")
    sc.add_argument(
        "--version",
        default="champion",
        help="a registry version number or alias (champion, candidate); default: champion",
    )
    sc.set_defaults(func=_score)

    pr = sub.add_parser(
        "promote",
        help="move a model's champion alias in the MLflow registry to a version (default: the "
        "candidate) when its validation has no red light; an earlier version is a rollback",
    )
    pr.add_argument("model", help="a model of params.yaml (models:)")
    pr.add_argument(
        "--by",
        required=True,
        metavar="REVIEWER",
        help="the reviewer's pseudonymous id (letters, digits, . _ -; no names or e-mail "
        "addresses), recorded on the version as promoted_by",
    )
    pr.add_argument(
        "--version", default=None, help="a version number or alias (default: candidate)"
    )
    pr.add_argument(
        "--override",
        default=None,
        metavar="REASON",
        help="promote despite red lights or a missing validation; the reason is recorded",
    )
    pr.set_defaults(func=_promote)

    so = sub.add_parser(
        "signoff",
        help="record a reviewer's approve or reject of a model's current registry version and "
        "validation pack in signoffs/<model>.jsonl (kept in git; the reports show it)",
    )
    so.add_argument("model", help="a model of params.yaml (models:)")
    so.add_argument(
        "--reviewer",
        required=True,
        metavar="ID",
        help="the reviewer's pseudonymous id (letters, digits, . _ -; no names or e-mail addresses)",
    )
    so.add_argument("--decision", required=True, choices=["approve", "reject"])
    so.add_argument("--note", required=True, help="why: kept with the decision")
    so.set_defaults(func=_signoff)

    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["repro"]:  # the rest goes to dvc repro as is (its options included)
        args = argparse.Namespace(func=_repro, dvc_args=given[1:])
    else:
        args = parser.parse_args(given)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"research: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
