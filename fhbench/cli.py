"""The `fhbench` command: run, record, score, search, verify, reproduce, compare, estimators.

A thin layer: it parses and checks the arguments, loads and validates the suite *before* torch is
imported (so a user error answers at once), then calls the pipeline's functions, which hold the
orchestration. User errors (bad arguments, a bad suite, an unknown estimator, missing data, a corrupt
trace, a file system that refuses a write) print one line and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from fhbench.errors import FhbenchError
from fhbench.suite import ALGORITHMS
from fhbench.truth import NB201_FILE_ENV

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class _UsageError(FhbenchError):
    """A malformed command line (argparse's errors, reported on one line like every user error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage and exits; we report one line instead
        raise _UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fhbench", description="Benchmark early performance estimators.")
    sub = parser.add_subparsers(dest="command", required=True)

    def suite_command(name: str, help_text: str, *, records: bool, scores: bool):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("suite", help="a suite TOML file, e.g. suites/quickstart.toml")
        p.add_argument("--traces", default="traces", help="trace store root (default: ./traces)")
        p.add_argument("--threads", type=int, default=None,
                       help="torch CPU threads, 1 to 4x the CPU count (default: torch's choice)")
        p.add_argument("--device", default="auto",
                       help="auto, cpu, cuda or cuda:N: trains and runs the estimators (default: auto)")
        if records:
            p.add_argument("--data-dir", default=None, help="dataset folder (default: $FHBENCH_DATA)")
            p.add_argument("--download", action="store_true", help="let torchvision download CIFAR")
        if scores:
            p.add_argument("--leaderboard", default="leaderboard", help="output root (default: ./leaderboard)")
        p.add_argument("--nb201-file", default=None, metavar="PATH",
                       help=f"NAS-Bench-201's benchmark file for the nb201-api truth (default: ${NB201_FILE_ENV})")
        return p

    for name, text in (("run", "record a suite's traces (resuming), then score and publish its leaderboard"),
                       ("score", "run the estimators on recorded traces and publish the leaderboard")):
        p = suite_command(name, text, records=name == "run", scores=True)
        p.add_argument("--strict", action="store_true",
                       help="refuse traces recorded under other conditions (device, threads, torch version)")
    suite_command("record", "train the suite's architectures and record their traces (resuming)",
                  records=True, scores=False)
    p = suite_command("search", "replay a search suite's searches on its recorded pool and publish them "
                                "(or, with --live, run one search for real)", records=True, scores=True)
    p.add_argument("--live", action="store_true", help="train the search's configurations for real")
    p.add_argument("--algorithm", default="hyperband", help="with --live: random, hyperband or bohb")
    p.add_argument("--estimator", default="fh-ensemble", help="with --live: the estimator that ranks")
    p.add_argument("--seed", type=int, default=0, help="with --live: the search's seed (>= 0)")
    p.add_argument("--iterations", type=int, default=1, help="with --live: HyperBand iterations to run (>= 1)")

    p = sub.add_parser("verify", help="check every trace of a suite in full (manifests, files, checksums)")
    p.add_argument("suite", help="a suite TOML file")
    p.add_argument("--traces", default="traces", help="trace store root (default: ./traces)")

    p = sub.add_parser("reproduce", help="recompute a published search leaderboard from its published files")
    p.add_argument("leaderboard_dir", help="a published leaderboard directory, e.g. leaderboard/nb201-search-cpu/1")

    sub.add_parser("estimators", help="list the installed estimators")
    p = sub.add_parser("compare", help="compare two leaderboards; exit 1 where a row got worse beyond tolerance")
    p.add_argument("old", help="the reference leaderboard directory (or its results.json)")
    p.add_argument("new", help="the leaderboard to check")
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="override a tolerance: absolute (mae_mean=0.01) or relative (overhead_epochs_mean=50%%)")
    return parser


# ------------------------------------------------------------------------------------- argument checks


def _check_arguments(args) -> None:
    """What can be checked without torch or the suite: numbers in range, device names, paths."""
    threads = getattr(args, "threads", None)
    if threads is not None:
        most = 4 * (os.cpu_count() or 1)
        if not 1 <= threads <= most:
            raise FhbenchError(f"--threads: expected 1 to {most} (4x this machine's {os.cpu_count()} CPUs), "
                               f"got {threads}")
    device = getattr(args, "device", None)
    if device is not None and not _DEVICE.match(device):
        raise FhbenchError(f"--device {device}: not supported; expected auto, cpu, cuda or cuda:N")
    if getattr(args, "seed", 0) < 0:
        raise FhbenchError(f"--seed: expected an integer >= 0, got {args.seed}")
    if getattr(args, "live", False) and args.algorithm not in ALGORITHMS:
        raise FhbenchError(f"--algorithm {args.algorithm}: expected one of {', '.join(ALGORITHMS)}")
    if getattr(args, "iterations", 1) < 1:
        raise FhbenchError(f"--iterations: expected an integer >= 1, got {args.iterations}")
    for flag in ("traces", "leaderboard"):
        value = getattr(args, flag, None)
        if value is not None:
            _check_directory(f"--{flag}", Path(value))
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        _check_directory("--data-dir", Path(data_dir))
        if not Path(data_dir).is_dir() and not args.download:
            raise FhbenchError(f"--data-dir {data_dir}: no such directory (--download lets torchvision create it)")


def _check_directory(flag: str, path: Path) -> None:
    """The path must be a directory or creatable as one: no file in the way, no over-long name."""
    for part in (path, *path.parents):
        try:
            if part.exists() or part.is_symlink():
                if not part.is_dir():
                    raise FhbenchError(f"{flag} {path}: {part} is not a directory")
                return
        except OSError as err:  # a name too long for the file system, a loop of links
            raise FhbenchError(f"{flag} {path}: {err.strerror or err}") from None


def _nb201_file(args) -> str | None:
    """--nb201-file, else $FHBENCH_NB201_FILE; None when neither is given."""
    value = getattr(args, "nb201_file", None) or os.environ.get(NB201_FILE_ENV) or None
    if value is not None and not Path(value).is_file():
        source = "--nb201-file" if getattr(args, "nb201_file", None) else f"${NB201_FILE_ENV}"
        raise FhbenchError(f"{source} {value}: no such file (NAS-Bench-201's benchmark file, "
                           "e.g. NAS-Bench-201-v1_1-096897.pth)")
    return value


def _device(name: str):
    """The torch device for a checked --device name (imports torch)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise FhbenchError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise FhbenchError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def _os_error(err: OSError) -> str:
    """One line for a file system error, naming the path where the error has one."""
    what = err.strerror or str(err)
    if err.filename is not None and err.filename2 is not None:
        return f"{os.fsdecode(err.filename)} -> {os.fsdecode(err.filename2)}: {what}"
    if err.filename is not None:
        return f"{os.fsdecode(err.filename)}: {what}"
    return f"file system error: {what}"


# ------------------------------------------------------------------------------------- commands


def _progress(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)


def _record(args, suite, store, device, console) -> None:
    from fhbench.data import resolve_data_dir
    from fhbench.pipeline import record_suite

    with _progress(console) as progress:
        done = record_suite(suite, store, data_dir=resolve_data_dir(args.data_dir), device=device,
                            download=args.download,
                            report=lambda text: console.print(text, soft_wrap=True, markup=False),
                            progress=progress)
    console.print(f"recorded {len(done)} trial(s) on {device} into {store.root}")


def _score(args, suite, store, device, console) -> None:
    from rich.table import Table

    from fhbench.estimators import available_estimators
    from fhbench.pipeline import score_suite

    registry = available_estimators()
    listed = [f"{name} ({registry[name].package} {registry[name].package_version})"
              for name in suite.estimate.estimators if name in registry]
    console.print("estimators: " + ", ".join(listed), soft_wrap=True, markup=False)
    steps = suite.estimate.repeats * len(suite.checkpoints) * len(suite.estimate.estimators)
    with _progress(console) as progress:
        task = progress.add_task("estimating", total=steps)

        def on_step(name, repeat, checkpoint):
            progress.update(task, advance=1, description=f"{name} r{repeat} epoch {checkpoint}")

        out, rows = score_suite(suite, store, args.leaderboard, on_step=on_step, device=device,
                                nb201_file=_nb201_file(args), strict=getattr(args, "strict", False))
    table = Table(title=f"{suite.name} {suite.version}")
    for column in ("epoch", "estimator", "MAE (pp)", "Kendall tau", "overhead (s)", "overhead (epochs)", "failed"):
        table.add_column(column, justify="left" if column == "estimator" else "right")
    for r in rows:
        table.add_row(str(r.epoch), r.estimator, f"{100 * r.mae_mean:.2f} ± {100 * r.mae_std:.2f}",
                      f"{r.kendall_tau_mean:.3f} ± {r.kendall_tau_std:.3f}", f"{r.overhead_s_mean:.3f}",
                      f"{r.overhead_epochs_mean:.3f}", str(r.n_failed))
    console.print(table)
    console.print(f"leaderboard written to {out}")


def _search(args, suite, store, device, console) -> None:
    from rich.table import Table

    from fhbench.pipeline import search_and_publish

    with console.status("searching") as status:
        out, rows = search_and_publish(suite, store, args.leaderboard,
                                       on_step=lambda text: status.update(f"searching: {text} done"),
                                       device=device, nb201_file=_nb201_file(args),
                                       strict=getattr(args, "strict", False))
    table = Table(title=f"{suite.name} {suite.version}")
    for column in ("algorithm", "estimator", "true acc (%)", "regret (pp)", "sim. time (s)", "configs"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.algorithm, r.estimator, f"{100 * r.true_acc_mean:.2f} ± {100 * r.true_acc_std:.2f}",
                      f"{100 * r.regret_mean:.2f} ± {100 * r.regret_std:.2f}", f"{r.simulated_time_s_mean:.0f}",
                      f"{r.configs_evaluated_mean:.1f}")
    console.print(table)
    console.print(f"leaderboard written to {out}")


def _live(args, suite, device, console) -> None:
    import torch

    from fhbench.data import resolve_data_dir
    from fhbench.pipeline import load_suite_splits
    from fhbench.publish import environment
    from fhbench.search.live import live_search_and_publish

    from fhbench.estimators import available_estimators

    if suite.search is None:
        raise FhbenchError(f"{suite.path}: key 'search': expected a [search] table for `fhbench search --live`")
    installed = available_estimators()
    if args.estimator not in installed:
        raise FhbenchError(f"--estimator {args.estimator}: no installed estimator is called that "
                           f"(installed: {', '.join(installed)})")
    splits = load_suite_splits(suite, resolve_data_dir(args.data_dir), args.download)
    with console.status(f"live {args.algorithm} with {args.estimator}"):
        out, run, cell = live_search_and_publish(
            suite, splits=splits, device=device, algorithm=args.algorithm, estimator=args.estimator,
            seed=args.seed, iterations=args.iterations, leaderboard_root=args.leaderboard,
            environment=environment(str(device), torch.get_num_threads()),
            on_note=lambda text: console.print(text, soft_wrap=True, markup=False))
    console.print(f"{len(run.jobs)} jobs in {run.simulated_time_s:.1f} s")
    console.print(f"best architecture: {cell}", soft_wrap=True, markup=False)
    console.print(f"live search written to {out}")


def _verify(args, suite, console) -> int:
    from fhbench.pipeline import open_store, verify_suite

    store = open_store(suite, args.traces)
    problems = verify_suite(suite, store)
    for problem in problems:
        console.print(problem, soft_wrap=True, markup=False)
    console.print(f"{suite.name} {suite.version}: {len(problems)} problem(s) in {store.root}")
    return 1 if problems else 0


def _reproduce(args, console) -> int:
    path = Path(args.leaderboard_dir)
    if not (path / "results.json").is_file():
        raise FhbenchError(f"{path}: not a published leaderboard directory (no results.json)")

    from fhbench.search.reproduce import reproduce_published
    differences = reproduce_published(path)
    for difference in differences:
        console.print(f"differs: {difference}", soft_wrap=True, markup=False)
    console.print(f"{path}: {'reproduced' if not differences else f'{len(differences)} difference(s)'}")
    return 1 if differences else 0


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
    from fhbench.compare import compare_files

    result = compare_files(args.old, args.new, args.tolerance)
    for line in result.lines():
        console.print(line, soft_wrap=True, markup=False)
    return 1 if result.regressions else 0


def _suite_command(args, console) -> int:
    from fhbench.suite import load_suite

    suite = load_suite(args.suite)  # validated in full before torch is imported
    for warning in suite.warnings:
        print(f"fhbench: warning: {warning}", file=sys.stderr)
    if args.command == "verify":
        return _verify(args, suite, console)
    nb201_file = _nb201_file(args)  # a missing file is reported before torch is imported

    import torch

    from fhbench.pipeline import open_store, preflight

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = _device(args.device)
    preflight(suite, nb201_file=nb201_file)
    start = time.perf_counter()
    if args.command == "search" and args.live:
        _live(args, suite, device, console)
    else:
        store = open_store(suite, args.traces)
        if args.command in ("run", "record"):
            _record(args, suite, store, device, console)
        if args.command == "search" or (args.command == "run" and suite.search is not None):
            _search(args, suite, store, device, console)
        elif args.command in ("run", "score"):
            _score(args, suite, store, device, console)
    console.print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    console = Console(stderr=False)
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exit_:  # --help
            return int(exit_.code or 0)
        _check_arguments(args)
        if args.command == "estimators":
            _estimators(console)
            return 0
        if args.command == "compare":
            return _compare(args, console)
        if args.command == "reproduce":
            return _reproduce(args, console)
        return _suite_command(args, console)
    except FhbenchError as err:
        print(f"fhbench: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full or read-only disk, a file where a folder belongs, a name too long
        print(f"fhbench: error: {_os_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fhbench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
