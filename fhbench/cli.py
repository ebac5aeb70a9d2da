"""The `fhbench` command: run, record, score, search, evaluate, import, verify, reproduce, compare, publish,
estimators, check-estimators.

A thin layer: it parses and checks the arguments, loads and validates the suite *before* torch is
imported (so a user error answers at once), then calls the pipeline's functions, which hold the
orchestration. User errors (bad arguments, a bad suite, an unknown estimator, missing data, a corrupt
trace, a file system that refuses a write) print one line and exit with status 2; no traceback.
With --fail-fast an estimator's own exception is shown with its traceback instead, and the exit status is 1.
`run`/`record` with --workers/--ray whose trials were lost (a worker died on every try, a recording
raised) finish all the same (`run` publishes them as failed trials), then say so on one line and exit
with status 1; the same command run again records those trials afresh.

Runs write under ./runs by default (git-ignored); publishing into the committed ./leaderboard is a
deliberate step (`fhbench publish RUN_DIR` or `--leaderboard leaderboard`). Torch runs 1 CPU thread per
process unless --threads says otherwise, so that processes sharing a machine do not oversubscribe it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

from fhbench.core.errors import FhbenchError
from fhbench.inputs.suite import ALGORITHMS
from fhbench.inputs.truth import NB201_FILE_ENV

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

DEFAULT_THREADS = 1
"""torch's CPU threads per process when --threads is not given: one, so that several processes on a
machine (or a loaded one) do not oversubscribe its cores."""

DEFAULT_RUNS = "runs"
"""Where runs write their leaderboards by default (git-ignored); `fhbench publish` copies one into
the committed `leaderboard/`."""

# `fhbench search` flags that only a live search uses, and their defaults there.
LIVE_DEFAULTS = {"algorithm": "hyperband", "estimator": "fh-ensemble", "seed": 0, "iterations": 1}

_THREADS_HELP = (f"torch CPU threads per process (default: {DEFAULT_THREADS}, which does not oversubscribe the "
                 "cores when processes share a machine; traces are bitwise repeatable only at the same count)")


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
        p.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
        p.add_argument("--device", default="auto",
                       help="auto, cpu, cuda or cuda:N: trains and runs the estimators (default: auto)")
        if records:
            p.add_argument("--data-dir", default=None, help="dataset folder (default: $FHBENCH_DATA)")
            p.add_argument("--download", action="store_true", help="let torchvision download CIFAR")
            p.add_argument("--force", action="store_true",
                           help="record even where the traces' predicted size exceeds the store's free disk")
            p.add_argument("--workers", type=int, default=None, metavar="N",
                           help="N trials (or, with search --live, N search workers) at once on a local Ray "
                                "instance fhbench starts and stops (default: one process, no Ray)")
            p.add_argument("--ray", default=None, metavar="ADDRESS",
                           help="run on an existing Ray cluster (host:port, ray://host:port or auto); a "
                                "multi-node cluster needs the trace store on a shared filesystem")
            p.add_argument("--cpus-per-trial", type=int, default=None, metavar="N",
                           help="with --workers/--ray: CPUs (and torch threads) per trial (default: 1)")
            p.add_argument("--gpus-per-trial", type=float, default=None, metavar="G",
                           help="with --workers/--ray: GPUs per trial, fractions share one (default: 0.25 "
                                "where CUDA is used, else 0)")
        if scores:
            p.add_argument("--leaderboard", default=DEFAULT_RUNS,
                           help=f"output root (default: ./{DEFAULT_RUNS}, git-ignored; `fhbench publish` copies "
                                f"a finished run into ./leaderboard)")
        p.add_argument("--nb201-file", default=None, metavar="PATH",
                       help=f"NAS-Bench-201's benchmark file for the nb201-api truth (default: ${NB201_FILE_ENV})")
        return p

    for name, text in (("run", "record a suite's traces (resuming), then score and publish its leaderboard"),
                       ("score", "run the estimators on recorded traces and publish the leaderboard")):
        p = suite_command(name, text, records=name == "run", scores=True)
        p.add_argument("--strict", action="store_true",
                       help="refuse traces recorded under other conditions (device, threads, torch version) and, "
                            "for data.dataset cifar10, any copy but the official release")
        p.add_argument("--fail-fast", action="store_true",
                       help="stop at the first failed estimate and show the estimator's traceback (exit 1)")
    p = suite_command("record", "train the suite's architectures and record their traces (resuming)",
                      records=True, scores=False)
    p.add_argument("--strict", action="store_true",
                   help="for data.dataset cifar10, refuse any copy but the official release")
    p = suite_command("search", "replay a search suite's searches on its recorded pool and publish them "
                                "(or, with --live, run one search for real)", records=True, scores=True)
    p.add_argument("--live", action="store_true", help="train the search's configurations for real")
    p.add_argument("--algorithm", default=None, help="only with --live: random, hyperband or bohb (default: hyperband)")
    p.add_argument("--estimator", default=None, help="only with --live: the estimator that ranks (default: fh-ensemble)")
    p.add_argument("--seed", type=int, default=None, help="only with --live: the search's seed, >= 0 (default: 0)")
    p.add_argument("--iterations", type=int, default=None,
                   help="only with --live: HyperBand iterations to run, >= 1 (default: 1)")

    p = sub.add_parser("evaluate", help="retrain a DARTS genotype at the suite's [evaluate] scale (Table 4.2): "
                                        "test error, params, search cost in GPU- or CPU-days")
    p.add_argument("suite", help="a suite TOML file of space darts")
    p.add_argument("genotype", nargs="?", default=None,
                   help="a DARTS genotype string, 'normal=op~i,op~j|...;reduce=...' (or --winner)")
    p.add_argument("--winner", action="store_true",
                   help="evaluate the best configuration the suite's published searches chose (the one with the "
                        "highest accuracy, as A.4 picks the best of its searches), read from <leaderboard>/<suite>/"
                        "<version>/results.json, with that search's time and workers as its cost")
    p.add_argument("--leaderboard", default=DEFAULT_RUNS,
                   help=f"output root: writes <root>/<suite>/<version>/evaluate-<id>.json (default: ./{DEFAULT_RUNS})")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: $FHBENCH_DATA)")
    p.add_argument("--download", action="store_true", help="let torchvision download CIFAR")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    p.add_argument("--search-seconds", type=float, default=None, metavar="S",
                   help="the search's wall time in seconds, for its cost in device-days")
    p.add_argument("--search-workers", type=int, default=None, metavar="W",
                   help="devices the search ran on at once (default with --search-seconds: 1)")

    p = sub.add_parser("import", help="import a benchmark's learning curves (a CSV, or NAS-Bench-201's benchmark "
                                      "file) as curve-only traces and a suite that `fhbench score` scores")
    p.add_argument("curves", metavar="CURVES",
                   help="a CSV of curves (docs/import.md) or NAS-Bench-201's benchmark file")
    p.add_argument("--name", required=True, help="the suite's name: writes <traces>/<name>.toml and its traces")
    p.add_argument("--traces", default="traces", help="trace store root (default: ./traces)")
    p.add_argument("--checkpoints", default=None, metavar="E1,E2,...",
                   help="epochs to estimate at (default: 5%%, 10%% and 25%% of the curves' epochs, 10,20,50 of 200)")
    p.add_argument("--truth", default=None, choices=("test_acc", "val_acc"),
                   help="CSV: the last epoch's test_acc (default where the file has it) or val_acc; NAS-Bench-201's "
                        "file: test_acc, the nb201-api truth (default), or val_acc, each run's own final one")
    p.add_argument("--space", default="nb201", choices=("nb201", "ids"),
                   help="CSV: arch is a NAS-Bench-201 cell string (nb201, default) or any other id (ids)")

    p = sub.add_parser("verify", help="check every trace of a suite in full (manifests, files, checksums)")
    p.add_argument("suite", help="a suite TOML file")
    p.add_argument("--traces", default="traces", help="trace store root (default: ./traces)")

    p = sub.add_parser("power", help="how many cells per repeat a board would need to resolve a difference "
                                     "(from its paired bootstrap), per checkpoint")
    p.add_argument("leaderboard_dir", help="a published estimation leaderboard directory, e.g. leaderboard/nb201-cpu/2")
    p.add_argument("--delta", type=float, default=0.05, help="the difference to resolve (default: 0.05)")
    p.add_argument("--metric", default="kendall_tau",
                   help="kendall_tau, spearman_rho, mae or top10_precision (default: kendall_tau)")
    p = sub.add_parser("reproduce", help="recompute a published leaderboard (estimation or search) from its "
                                         "published files")
    p.add_argument("leaderboard_dir", help="a published leaderboard directory, e.g. leaderboard/nb201-search-cpu/1")

    sub.add_parser("estimators", help="list the installed estimators")
    p = sub.add_parser("check-estimators", help="check installed estimators against the estimator contract "
                                                "(exit 1 if any breaks it)")
    p.add_argument("names", nargs="*", metavar="NAME", help="estimators to check (default: every installed one)")
    p.add_argument("--suite", default=None, help="take each estimator's settings from this suite's "
                                                 "[estimators.<name>] tables (default: the estimator's defaults)")
    p.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    p = sub.add_parser("publish", help="copy a finished run's leaderboard directory into the committed leaderboard")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a leaderboard directory a run wrote, e.g. runs/quickstart/1")
    p.add_argument("--leaderboard", default="leaderboard", help="the committed leaderboard root (default: ./leaderboard)")
    p.add_argument("--allow-dirty", action="store_true",
                   help="publish a board scored from a modified working tree (the board records it)")
    from fhbench.publish import site

    site.add_arguments(sub.add_parser("site", help="build a static HTML site of every leaderboard (sortable tables, "
                                                   "plots, provenance, differences between versions)"))
    p = sub.add_parser("compare", help="compare two leaderboards; exit 1 where a row got worse beyond tolerance")
    p.add_argument("old", help="the reference leaderboard directory (or its results.json)")
    p.add_argument("new", help="the leaderboard to check")
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="override a tolerance: absolute (mae_mean=0.01) or relative (overhead_ref_mean=50%%)")
    p.add_argument("--statistical", action="store_true",
                   help="boards recorded on different runs: a regression is a paired bootstrap difference (new - "
                        "old, over the cells both scored) whose 95%% interval lies wholly on the worse side")
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
    if args.command == "search":
        _check_live_flags(args)
    _check_execution_flags(args)
    for flag in ("traces", "leaderboard"):
        value = getattr(args, flag, None)
        if value is not None:
            _check_directory(f"--{flag}", Path(value))
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        _check_directory("--data-dir", Path(data_dir))
        if not Path(data_dir).is_dir() and not args.download:
            raise FhbenchError(f"--data-dir {data_dir}: no such directory (--download lets torchvision create it)")


def _check_execution_flags(args) -> None:
    """--workers, --ray, --cpus-per-trial, --gpus-per-trial: checked here, without Ray or torch; sets
    args.execution (None: one process, as always)."""
    if not hasattr(args, "workers"):
        return
    from fhbench.runtime.ray import check_execution

    args.execution = check_execution(args.workers, args.ray, args.cpus_per_trial, args.gpus_per_trial,
                                     getattr(args, "threads", None), getattr(args, "device", None))
    if args.execution is not None and args.command == "search" and not args.live:
        raise FhbenchError("--workers/--ray: a replay trains nothing (it simulates the suite's [search] workers); "
                           "use them with `fhbench search --live`, `fhbench run` or `fhbench record`")


def _check_live_flags(args) -> None:
    """--algorithm, --estimator, --seed and --iterations belong to a live search: without --live they
    would be silently ignored (a replay runs what the suite's [search] table says), so they are refused.
    With --live the ones not given take their defaults."""
    if not args.live:
        given = [name for name in LIVE_DEFAULTS if getattr(args, name) is not None]
        if given:
            flags = ", ".join(f"--{name}" for name in given)
            raise FhbenchError(f"{flags}: only with --live (a replay runs the algorithms, estimators and seeds "
                               f"of the suite's [search] table)")
        return
    for name, default in LIVE_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.seed < 0:
        raise FhbenchError(f"--seed: expected an integer >= 0, got {args.seed}")
    if args.algorithm not in ALGORITHMS:
        raise FhbenchError(f"--algorithm {args.algorithm}: expected one of {', '.join(ALGORITHMS)}")
    if args.iterations < 1:
        raise FhbenchError(f"--iterations: expected an integer >= 1, got {args.iterations}")


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


class _EstimatorFailed(Exception):
    """--fail-fast: an estimator raised; main shows its traceback and exits 1."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def _raised_by_estimator(err: BaseException) -> bool:
    """Whether `err` came out of an estimator's own code: the harness marks it (an `estimator` attribute),
    or its traceback passes through the harness call that runs `fit` and `estimate`."""
    if getattr(err, "fhbench_estimator", None) is not None:
        return True
    tb = err.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "fit_and_estimate" and Path(code.co_filename).name == "harness.py":
            return True
        tb = tb.tb_next
    return False


def _say(console, text: str) -> None:
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def _record(args, suite, store, device, console) -> list:
    """Records what the store lacks; returns the trials lost in this run (traces of status "lost")."""
    from fhbench.inputs.data import resolve_data_dir
    from fhbench.engine.pipeline import record_suite
    from fhbench.runtime.progress import RecordingProgress

    with RecordingProgress(console, images_per_epoch=suite.data.train_size) as progress:
        done = record_suite(suite, store, data_dir=resolve_data_dir(args.data_dir), device=device,
                            download=args.download, report=lambda text: _say(console, text), progress=progress,
                            execution=getattr(args, "execution", None), strict=getattr(args, "strict", False),
                            force=getattr(args, "force", False))
    where = f"{device}" if getattr(args, "execution", None) is None else args.execution.describe()
    lost = [trace for trace in (store.open(t.trial_id) for t in done) if trace.status == "lost"]
    lost_text = f", {len(lost)} of them lost" if lost else ""
    _say(console, f"recorded {len(done)} trial(s){lost_text} on {where} into {store.root}")
    return lost


def _read_results(directory: Path) -> dict:
    try:
        return json.loads((Path(directory) / "results.json").read_text())
    except (OSError, ValueError):
        return {}


def _recorded_threads(args) -> int | None:
    """The torch threads this command records with where they are not its own (--workers/--ray: each
    trial's --cpus-per-trial); what --strict compares the traces with."""
    execution = getattr(args, "execution", None)
    return execution.cpus_per_trial if execution is not None else None


def _score(args, suite, store, device, console) -> None:
    from fhbench.publish.terminal import estimation_table, failure_lines
    from fhbench.estimators import available_estimators
    from fhbench.engine.pipeline import score_suite
    from fhbench.runtime.progress import ScoringProgress

    registry = available_estimators()
    listed = [f"{name} ({registry[name].package} {registry[name].package_version})"
              for name in suite.estimate.estimators if name in registry]
    _say(console, "estimators: " + ", ".join(listed))
    steps = (suite.estimate.repeats * sum(len(suite.checkpoints_for(b)) for b in suite.budgets)
             * len(suite.estimate.estimators))
    extra = {"fail_fast": True} if getattr(args, "fail_fast", False) else {}
    try:
        with ScoringProgress(console, steps) as progress:
            out, rows = score_suite(suite, store, args.leaderboard, on_step=progress.on_step, device=device,
                                    nb201_file=_nb201_file(args), strict=getattr(args, "strict", False),
                                    strict_threads=_recorded_threads(args), **extra)
    except Exception as err:
        if extra and _raised_by_estimator(err):
            raise _EstimatorFailed(err) from err
        raise
    _say(console, f"\n{suite.name} {suite.version}, truth {suite.estimate.truth}")
    _say(console, estimation_table(rows, suite.estimate.repeats, max(console.width, 80)))
    failures = _read_results(out).get("failures") or []
    if failures:
        totals: dict[str, int] = {}
        for r in rows:
            totals[r.estimator] = totals.get(r.estimator, 0) + r.n_estimates + r.n_failed  # succeeded + failed
        _say(console, "\nfailed estimates (each counts as 0.0; every one is listed in results.json):")
        for line in failure_lines(failures, totals):
            _say(console, f"  {line}")
    _say(console, f"leaderboard written to {out}")


def _search(args, suite, store, device, console) -> None:
    from fhbench.publish.terminal import search_table
    from fhbench.engine.pipeline import search_and_publish
    from fhbench.runtime.progress import MessageProgress

    with MessageProgress(console, "searching") as progress:
        out, rows = search_and_publish(suite, store, args.leaderboard, on_step=progress.note, device=device,
                                       nb201_file=_nb201_file(args), strict=getattr(args, "strict", False),
                                       strict_threads=_recorded_threads(args))
    results = _read_results(out)
    _say(console, f"\n{suite.name} {suite.version}, truth {suite.search.truth}")
    _say(console, search_table(rows))
    for name, items in (results.get("estimate_failures") or {}).items():
        if items:
            _say(console, f"  {name}: {len(items)} estimate(s) failed (ranked last); first: {items[0]}")
    _say(console, f"leaderboard written to {out}")


def _live(args, suite, device, console) -> None:
    from fhbench.publish.terminal import winner_lines
    import torch

    from fhbench.inputs.data import resolve_data_dir
    from fhbench.estimators import available_estimators
    from fhbench.engine.pipeline import load_suite_splits
    from fhbench.runtime.progress import MessageProgress
    from fhbench.publish.provenance import environment
    from fhbench.engine.pipeline import open_store
    from fhbench.engine.search import live_search_and_publish

    if suite.search is None:
        raise FhbenchError(f"{suite.path}: key 'search': expected a [search] table for `fhbench search --live`")
    installed = available_estimators()
    if args.estimator not in installed:
        raise FhbenchError(f"--estimator {args.estimator}: no installed estimator is called that "
                           f"(installed: {', '.join(installed)})")
    splits = load_suite_splits(suite, resolve_data_dir(args.data_dir), args.download)
    with MessageProgress(console, f"live {args.algorithm} with {args.estimator}") as progress:
        result = live_search_and_publish(
            suite, splits=splits, device=device, algorithm=args.algorithm, estimator=args.estimator,
            seed=args.seed, iterations=args.iterations, leaderboard_root=args.leaderboard,
            environment=environment(str(device), torch.get_num_threads()), on_note=progress.note,
            nb201_file=_nb201_file(args), execution=args.execution,
            store=open_store(suite, args.traces) if args.execution is not None else None)
    out, run, cell = result[0], result[1], result[2]
    _say(console, f"{len(run.jobs)} jobs in {run.simulated_time_s:.1f} s")
    _say(console, f"best architecture: {cell}")
    winner = result[3] if len(result) > 3 else _read_results(out).get("winner")
    for line in winner_lines(winner, run, args.estimator):
        _say(console, f"  {line}")
    _say(console, f"live search written to {out}")


def _is_declared(suite) -> bool:
    from fhbench.engine.declared import is_declared

    return is_declared(suite)


def _declared(args, suite, device, console) -> None:
    """A declared search suite (spaces darts, resnet_scaling, randaugment): `run` trains its searches live
    and replays them, `search` replays what earlier runs recorded; it has nothing to record beforehand."""
    from fhbench.inputs.data import resolve_data_dir
    from fhbench.engine.pipeline import open_store, run_declared
    from fhbench.runtime.progress import MessageProgress

    if args.command == "record":
        raise FhbenchError(f"{args.suite}: space {suite.space.name} is searched live, which records what it trains: "
                           f"`fhbench run {args.suite}`")
    if args.command == "search" and args.live:
        raise FhbenchError(f"{args.suite}: space {suite.space.name} is always searched live: `fhbench run "
                           f"{args.suite}` runs every search of its [search] table")
    live = args.command == "run"
    with MessageProgress(console, "live searches" if live else "replaying") as progress:
        out, rows = run_declared(suite, open_store(suite, args.traces), args.leaderboard,
                                 data_dir=resolve_data_dir(args.data_dir), device=device, live=live,
                                 execution=args.execution, download=args.download, on_note=progress.note)
    _say(console, (out / "leaderboard.md").read_text())
    _say(console, f"leaderboard written to {out}")


def _verify(args, suite, console) -> int:
    from fhbench.engine.pipeline import open_store, verify_suite

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

    from fhbench.publish.reproduce import reproduce_published
    differences = reproduce_published(path)
    for difference in differences:
        console.print(f"differs: {difference}", soft_wrap=True, markup=False)
    console.print(f"{path}: {'reproduced' if not differences else f'{len(differences)} difference(s)'}")
    return 1 if differences else 0


def _power(args, console) -> int:
    from fhbench.publish.board_files import read_results
    from fhbench.score.published import board_power

    path = Path(args.leaderboard_dir) / "results.json"
    answers = board_power(read_results(args.leaderboard_dir), args.delta, args.metric, str(path))
    console.print(f"{args.leaderboard_dir}: cells per repeat to resolve a {args.metric} difference of {args.delta:g} "
                  f"(two-sided 95%, power 80%, from the median SE of the board's paired differences):",
                  soft_wrap=True, markup=False)
    for answer in answers:
        where = f"epoch {answer['epoch']}" + (f", budget {answer['budget']}" if "budget" in answer else "")
        needed = "n/a: too few cells to estimate the noise" if answer["cells_needed"] is None else \
            f"{answer['cells_needed']:,.0f}"
        console.print(f"  {where}: {needed} (the board has {answer['cells_per_repeat']} in each "
                      f"of {answer['repeats']} repeat(s))", markup=False, soft_wrap=True)
    return 0


def _import(args, console) -> int:
    from fhbench.engine.import_curves import import_curves, parse_checkpoints

    result = import_curves(args.curves, name=args.name, traces_root=args.traces,
                           checkpoints=parse_checkpoints(args.checkpoints), truth=args.truth, space=args.space)
    for note in result.notes:
        _say(console, f"note: {note}")
    _say(console, f"imported {result.trials:,} trials of {result.epochs} epochs into {result.store}; wrote "
                  f"{result.suite_path} (truth {result.truth}); score them with: {result.score_command}")
    return 0


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


def _check_estimators(args, console) -> int:
    """`fhbench check-estimators [NAME ...]`: the contract check (fhbench.estimators.check) on installed
    estimators; one line per estimator, exit 1 if any breaks a rule."""
    from fhbench.estimators import available_estimators

    settings = {}
    if args.suite is not None:
        from fhbench.inputs.suite import load_suite

        settings = load_suite(args.suite).estimator_settings
    installed = available_estimators()
    names = list(dict.fromkeys(args.names)) or list(installed)
    unknown = [name for name in names if name not in installed]
    if unknown:
        raise FhbenchError(f"{', '.join(unknown)}: no installed estimator is called that "
                           f"(installed: {', '.join(installed) or 'none'})")
    import torch

    from fhbench.estimators.check import check_estimator

    with _threads(torch, args.threads):
        failed = _check_each(names, installed, settings, check_estimator, console)
    _say(console, f"{len(names) - failed} of {len(names)} estimator(s) pass the contract")
    return 1 if failed else 0


def _check_each(names, installed, settings, check_estimator, console) -> int:
    failed = 0
    for name in names:
        info = installed[name]
        try:
            factory = info.load()
        except Exception as err:  # a broken plugin is a failed check, not a crash
            failed += 1
            _say(console, f"FAIL {name} ({info.package} {info.package_version}): fails to load: "
                          f"{type(err).__name__}: {err}")
            continue
        try:
            check_estimator(factory, dict(settings.get(name) or {}))
        except AssertionError as err:
            failed += 1
            _say(console, f"FAIL {name} ({info.package} {info.package_version}): {err}")
            continue
        except Exception as err:  # e.g. settings its constructor refuses
            failed += 1
            _say(console, f"FAIL {name} ({info.package} {info.package_version}): {type(err).__name__}: {err}")
            continue
        _say(console, f"pass {name} ({info.package} {info.package_version})")
    return failed


def _publish(args, console) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / "results.json").is_file():
        raise FhbenchError(f"{run_dir}: not a finished run's leaderboard directory (no results.json)")

    from fhbench.engine.pipeline import publish_run

    final = publish_run(run_dir, args.leaderboard, allow_dirty=args.allow_dirty)
    _say(console, f"published {run_dir} to {final}")
    return 0


def _compare(args, console) -> int:
    if args.statistical:
        return _compare_statistically(args, console)
    from fhbench.publish.compare import compare_files

    result = compare_files(args.old, args.new, args.tolerance)
    for line in result.lines():
        console.print(line, soft_wrap=True, markup=False)
    return 1 if result.regressions else 0


def _compare_statistically(args, console) -> int:
    from fhbench.publish.compare import load_results, signature_notes
    from fhbench.publish.paired_compare import paired_changes

    if args.tolerance:
        raise FhbenchError("--tolerance and --statistical: choose one (tolerances are for boards of the same traces)")
    old, new = load_results(args.old), load_results(args.new)
    for note in signature_notes(old, new):
        _say(console, note)
    rank_only = {row["estimator"] for board in (old, new) for row in board.rows.values() if row.get("rank_only")}
    changes = paired_changes(old.header, new.header, old_source=str(old.path), new_source=str(new.path),
                             rank_only=rank_only)
    for change in changes:
        _say(console, change.line())
    worse = [c for c in changes if c.worse]
    _say(console, f"{len(changes)} paired difference(s), {len(worse)} regression(s) (95% interval wholly worse)")
    return 1 if worse else 0


@contextlib.contextmanager
def _threads(torch, threads: int | None):
    """torch's CPU threads for one command: --threads, else DEFAULT_THREADS; restored afterwards (which
    matters only to callers of `main` in-process, such as tests)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or DEFAULT_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _suite_command(args, console) -> int:
    from fhbench.inputs.suite import load_suite

    suite = load_suite(args.suite)  # validated in full before torch is imported
    for warning in suite.warnings:
        print(f"fhbench: warning: {warning}", file=sys.stderr)
    if args.command == "verify":
        return _verify(args, suite, console)
    nb201_file = _nb201_file(args)  # a missing file is reported before torch is imported

    import torch

    from fhbench.engine.pipeline import check_writable, open_store, preflight

    if args.command == "score" and suite.search is not None:
        raise FhbenchError(f"{args.suite}: a search suite: `fhbench search` (or `run`) publishes its leaderboard; "
                           f"`score` would replace it with an estimation table")
    if getattr(args, "fail_fast", False) and suite.search is not None:
        raise FhbenchError("--fail-fast: applies to estimation suites; a search suite ranks a failed estimate last")
    with _threads(torch, args.threads):
        device = _device(args.device)
        preflight(suite, nb201_file=nb201_file)
        if getattr(args, "leaderboard", None) is not None:
            check_writable(args.leaderboard)  # before hours of training, not after
        start = time.perf_counter()
        lost = []
        if _is_declared(suite):
            _declared(args, suite, device, console)
        elif args.command == "search" and args.live:
            _live(args, suite, device, console)
        else:
            store = open_store(suite, args.traces)
            if args.command in ("run", "record"):
                lost = _record(args, suite, store, device, console)
            if args.command == "search" or (args.command == "run" and suite.search is not None):
                _search(args, suite, store, device, console)
            elif args.command == "score":
                _score(args, suite, store, device, console)
            elif args.command == "run":
                lost = _score_recording_corrupt_trials_again(args, suite, store, device, console, lost)
    _say(console, f"done in {time.perf_counter() - start:.1f} s")
    if lost:
        from fhbench.publish.terminal import lost_line  # here: it imports torch
        print(f"fhbench: error: {lost_line(lost, args.command)}", file=sys.stderr)
        return 1
    return 0


CORRUPT_RETRIES = 3


def _score_recording_corrupt_trials_again(args, suite, store, device, console, lost: list) -> list:
    """`run`: a trace file that fails its checksum while estimators read it is the trace's fault: the trial
    is quarantined (moved to .corrupt/) and recorded again, then the suite is scored afresh."""
    from fhbench.core.errors import CorruptTraceError

    for attempt in range(CORRUPT_RETRIES + 1):
        try:
            _score(args, suite, store, device, console)
            return lost
        except CorruptTraceError as err:
            if attempt == CORRUPT_RETRIES:
                raise
            moved = store.quarantine(err.trial_id)
            _say(console, f"{err}; moved to {moved}, recording it again")
            lost = _record(args, suite, store, device, console)
    return lost


def _evaluate(args, console) -> int:
    """`fhbench evaluate SUITE GENOTYPE`: the suite, the genotype and the flags are checked before torch."""
    from fhbench.engine.evaluate import evaluate_genotype, parse_genotype, search_cost, summary_line, write_result
    from fhbench.inputs.suite import load_suite

    suite = load_suite(args.suite)
    for warning in suite.warnings:
        print(f"fhbench: warning: {warning}", file=sys.stderr)
    if (args.genotype is None) == (not args.winner):
        raise FhbenchError("evaluate: give a GENOTYPE or --winner (one of the two)")
    if args.winner:
        from fhbench.publish.declared_board import best_winner

        best = best_winner(Path(args.leaderboard) / suite.name / suite.version / "results.json")
        args.genotype = best["incumbent"]
        if args.search_seconds is None:
            args.search_seconds, args.search_workers = best["clock_s"], best["workers"]
        _say(console, f"the winner of {best['target']}, {best['algorithm']} with {best['estimator']}, seed "
                      f"{best['seed']}: {args.genotype}")
    parse_genotype(suite, args.genotype)  # a genotype that does not parse: one line, exit 2
    search_cost(args.search_seconds, args.search_workers, "cpu")  # the flags' checks

    import torch

    from fhbench.inputs.data import resolve_data_dir
    from fhbench.engine.pipeline import check_writable, load_suite_splits

    with _threads(torch, args.threads):
        device = _device(args.device)
        check_writable(args.leaderboard)  # before hours of training, not after
        splits = load_suite_splits(suite, resolve_data_dir(args.data_dir), args.download)
        result = evaluate_genotype(suite, args.genotype, splits, device, search_seconds=args.search_seconds,
                                   search_workers=args.search_workers, report=lambda text: _say(console, text))
        path = write_result(result, args.leaderboard, suite)
    from fhbench.publish.declared_board import add_evaluations

    if add_evaluations(path.parent):  # the suite's published search board shows it (Table 4.2)
        _say(console, f"added to the leaderboard {path.parent / 'leaderboard.md'}")
    print(summary_line(result, path))
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
        if args.command == "import":
            return _import(args, console)
        if args.command == "compare":
            return _compare(args, console)
        if args.command == "reproduce":
            return _reproduce(args, console)
        if args.command == "power":
            return _power(args, console)
        if args.command == "check-estimators":
            return _check_estimators(args, console)
        if args.command == "publish":
            return _publish(args, console)
        if args.command == "site":
            from fhbench.publish import site

            return site.run(args)
        if args.command == "evaluate":
            return _evaluate(args, console)
        return _suite_command(args, console)
    except _EstimatorFailed as failure:
        traceback.print_exception(failure.error, file=sys.stderr)
        print(f"fhbench: error: --fail-fast: an estimator failed: {type(failure.error).__name__}: {failure.error} "
              "(traceback above)", file=sys.stderr)
        return 1
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
