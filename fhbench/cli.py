"""The `fhbench` command: run, record, score, search, compare, estimators.

User errors (a bad suite, an unknown estimator, missing data, a corrupt trace) print one line and
exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time

from fhbench.errors import FhbenchError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhbench", description="Benchmark early performance estimators.")
    sub = parser.add_subparsers(dest="command", required=True)

    def suite_command(name: str, help_text: str, records: bool, scores: bool):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("suite", help="a suite TOML file, e.g. suites/quickstart.toml")
        p.add_argument("--traces", default="traces", help="trace store root (default: ./traces)")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
        if records:
            p.add_argument("--data-dir", default=None, help="dataset folder (default: $FHBENCH_DATA)")
            p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
            p.add_argument("--download", action="store_true", help="let torchvision download CIFAR")
        if scores:
            p.add_argument("--leaderboard", default="leaderboard", help="output root (default: ./leaderboard)")
        return p

    suite_command("run", "record a suite's traces (resuming), then score and publish its leaderboard", True, True)
    suite_command("record", "train the suite's architectures and record their traces (resuming)", True, False)
    suite_command("score", "run the estimators on recorded traces and publish the leaderboard", False, True)
    p = suite_command("search", "replay a search suite's searches on its recorded pool and publish them "
                               "(or, with --live, run one search for real)", True, True)
    p.add_argument("--live", action="store_true", help="train the search's configurations for real")
    p.add_argument("--algorithm", default="hyperband", help="with --live: random, hyperband or bohb")
    p.add_argument("--estimator", default="fh-ensemble", help="with --live: the estimator that ranks")
    p.add_argument("--seed", type=int, default=0, help="with --live: the search's seed")
    p.add_argument("--iterations", type=int, default=1, help="with --live: HyperBand iterations to run")
    sub.add_parser("estimators", help="list the installed estimators")
    p = sub.add_parser("compare", help="compare two leaderboards; exit 1 where a row got worse beyond tolerance")
    p.add_argument("old", help="the reference leaderboard directory (or its results.json)")
    p.add_argument("new", help="the leaderboard to check")
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="override a tolerance: absolute (mae_mean=0.01) or relative (overhead_epochs_mean=50%%)")
    return parser


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise FhbenchError(f"--device: expected auto, cpu, cuda or cuda:N, got '{name}'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FhbenchError(f"--device {name}: CUDA is not available on this machine")
    return device


def _record(args, suite, store, console) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fhbench.data import resolve_data_dir
    from fhbench.pipeline import record_suite

    device = _device(args.device)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        done = record_suite(suite, store, data_dir=resolve_data_dir(args.data_dir), device=device,
                            download=args.download, report=lambda text: console.print(text, soft_wrap=True, markup=False),
                            progress=progress)
    console.print(f"recorded {len(done)} trial(s) on {device} into {store.root}")


def _score(args, suite, store, console) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from fhbench.estimators import available_estimators
    from fhbench.pipeline import score_suite

    registry = available_estimators()
    listed = [f"{name} ({registry[name].package} {registry[name].package_version})"
              for name in suite.estimate.estimators if name in registry]
    console.print("estimators: " + ", ".join(listed), soft_wrap=True, markup=False)
    steps = suite.estimate.repeats * len(suite.checkpoints) * len(suite.estimate.estimators)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("estimating", total=steps)

        def on_step(name, repeat, checkpoint):
            progress.update(task, advance=1, description=f"{name} r{repeat} epoch {checkpoint}")

        out, rows = score_suite(suite, store, args.leaderboard, on_step=on_step)
    table = Table(title=f"{suite.name} {suite.version}")
    for column in ("epoch", "estimator", "MAE (pp)", "Kendall tau", "overhead (s)", "overhead (epochs)", "failed"):
        table.add_column(column, justify="left" if column == "estimator" else "right")
    for r in rows:
        table.add_row(str(r.epoch), r.estimator, f"{100 * r.mae_mean:.2f} ± {100 * r.mae_std:.2f}",
                      f"{r.kendall_tau_mean:.3f} ± {r.kendall_tau_std:.3f}", f"{r.overhead_s_mean:.3f}",
                      f"{r.overhead_epochs_mean:.3f}", str(r.n_failed))
    console.print(table)
    console.print(f"leaderboard written to {out}")


def _search(args, suite, store, console) -> None:
    from rich.table import Table

    from fhbench.pipeline import search_and_publish

    with console.status("searching") as status:
        out, rows = search_and_publish(suite, store, args.leaderboard,
                                       on_step=lambda text: status.update(f"searching: {text} done"))
    table = Table(title=f"{suite.name} {suite.version}")
    for column in ("algorithm", "estimator", "true acc (%)", "regret (pp)", "sim. time (s)", "configs"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.algorithm, r.estimator, f"{100 * r.true_acc_mean:.2f} ± {100 * r.true_acc_std:.2f}",
                      f"{100 * r.regret_mean:.2f} ± {100 * r.regret_std:.2f}", f"{r.simulated_time_s_mean:.0f}",
                      f"{r.configs_evaluated_mean:.1f}")
    console.print(table)
    console.print(f"leaderboard written to {out}")


def _live(args, suite, console) -> None:
    import json
    from pathlib import Path

    from fhbench.data import resolve_data_dir
    from fhbench.estimators import create_estimator
    from fhbench.pipeline import load_suite_splits, make_space
    from fhbench.record import plan_trials
    from fhbench.search.live import LiveBackend, live_search
    from fhbench.search.run import build_pool, make_algorithm

    if suite.search is None:
        raise FhbenchError(f"{suite.path}: key 'search': expected a [search] table for `fhbench search --live`")
    space = make_space(suite)
    trials = plan_trials(suite, space)
    pool = build_pool([t.config for t in trials], space)
    algorithm = make_algorithm(args.algorithm, pool, suite, args.seed, max_iterations=args.iterations)
    estimator = create_estimator(args.estimator, suite.estimator_settings.get(args.estimator))
    splits = load_suite_splits(suite, resolve_data_dir(args.data_dir), args.download)
    backend = LiveBackend(suite, space, splits, trials, _device(args.device))
    with console.status(f"live {args.algorithm} with {args.estimator}"):
        run = live_search(algorithm, backend, estimator, estimator_name=args.estimator, seed=args.seed)
    if run.incumbent is None:
        raise FhbenchError("the live search finished no job")
    cell = trials[run.incumbent].config
    out = Path(args.leaderboard) / suite.name / "live" / f"{args.algorithm}-{args.estimator}-seed{args.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"algorithm": args.algorithm, "estimator": args.estimator, "seed": args.seed,
                               "incumbent": cell, "seconds": run.simulated_time_s,
                               "epochs_trained": backend.epochs_trained, "pool": [t.config for t in trials],
                               "jobs": run.jobs}, indent=1) + "\n")
    console.print(f"{len(run.jobs)} jobs, {backend.epochs_trained} epochs trained in {run.simulated_time_s:.1f} s")
    console.print(f"best architecture: {cell}", soft_wrap=True, markup=False)
    console.print(f"jobs written to {out}")


def _estimators(console) -> None:
    from rich.table import Table

    from fhbench.estimators import available_estimators

    table = Table(title="installed estimators (entry-point group fhbench.estimators)")
    for column in ("name", "version", "package", "package version", "loads"):
        table.add_column(column)
    for name, info in available_estimators().items():
        try:
            version = str(getattr(info.load(), "version", "?"))
        except Exception as err:  # a broken plugin is listed, not fatal
            version = f"fails to load: {type(err).__name__}: {err}"
        table.add_row(name, version, info.package, info.package_version, info.target)
    console.print(table)


def _compare(args, console) -> int:
    from fhbench.compare import DEFAULT_TOLERANCES, compare, load_rows, parse_tolerance

    tolerances = dict(DEFAULT_TOLERANCES)
    for text in args.tolerance:
        tolerance = parse_tolerance(text)
        tolerances[tolerance.metric] = tolerance
    old, new = load_rows(args.old), load_rows(args.new)
    regressions = compare(old, new, tolerances)
    for regression in regressions:
        console.print(f"worse: {regression.describe()}", soft_wrap=True, markup=False)
    console.print(f"{len(old)} row(s) compared, {len(regressions)} regression(s) beyond tolerance")
    return 1 if regressions else 0


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = _parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        if args.command == "estimators":
            _estimators(console)
            return 0
        if args.command == "compare":
            return _compare(args, console)
        import torch

        from fhbench.pipeline import open_store
        from fhbench.suite import load_suite

        if args.threads is not None:
            if args.threads < 1:
                raise FhbenchError(f"--threads: expected a positive integer, got {args.threads}")
            torch.set_num_threads(args.threads)
        suite = load_suite(args.suite)
        store = open_store(suite, args.traces)
        start = time.perf_counter()
        if args.command in ("run", "record"):
            _record(args, suite, store, console)
        if args.command == "search" and args.live:
            _live(args, suite, console)
        elif args.command == "search" or (args.command == "run" and suite.search is not None):
            _search(args, suite, store, console)
        elif args.command in ("run", "score"):
            _score(args, suite, store, console)
        console.print(f"done in {time.perf_counter() - start:.1f} s")
        return 0
    except FhbenchError as err:
        print(f"fhbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fhbench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
