"""The speed gate of benchmarks/ (pytest-benchmark on ratios, see benchmarks/ratio_bench.py), proved on a
small synthetic benchmark run in a fresh pytest: pytest-benchmark's statistics are those of the ratio,
and `--benchmark-compare-fail` passes the same code under busy processes but fails it made 5x slower."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

# Loads the CPU with busy processes on purpose and compares timings: alone, in CI's `-m timing` run.
pytestmark = [pytest.mark.slow, pytest.mark.timing]

BENCHMARK = '''
import os
import time

from ratio_bench import cpu_seconds, python_reference


def work():
    total = 0
    for i in range(150_000 * int(os.environ.get("SLOWDOWN", "1"))):
        total += (i * i) % 7
    return total


def test_synthetic_ratio(ratio_benchmark):
    def measure():
        cpu, wall = min(cpu_seconds(work) for _ in range(2))
        reference, _ = min(cpu_seconds(python_reference) for _ in range(2))
        return cpu / reference, {"cpu_s": cpu, "wall_s": wall}

    ratio_benchmark(measure, rounds=3)
'''

CONFTEST = f'''
import sys

import pytest
sys.path.insert(0, {str(REPO / "benchmarks")!r})
from ratio_bench import one_thread, ratio_benchmark  # noqa: F401
'''


def run_benchmark(tmp_path, *options, slowdown=1):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "SLOWDOWN": str(slowdown)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), "test_synthetic.py", *options],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_pytest_benchmark_gates_the_ratio_not_the_seconds(tmp_path):
    (tmp_path / "test_synthetic.py").write_text(BENCHMARK)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    base = run_benchmark(tmp_path, "--benchmark-json=base.json")
    assert base.returncode == 0, base.stdout + base.stderr
    [bench] = json.loads((tmp_path / "base.json").read_text())["benchmarks"]
    ratios = [r["ratio"] for r in bench["extra_info"]["rounds"]]
    assert bench["stats"]["data"] == pytest.approx(ratios)  # what pytest-benchmark timed is the ratio of each round
    assert bench["stats"]["median"] == pytest.approx(bench["extra_info"]["ratio_median"])
    seconds = [r["wall_s"] for r in bench["extra_info"]["rounds"]]
    assert all(abs(r - s) > 0.1 * r for r, s in zip(ratios, seconds)), (ratios, seconds)

    gate = ["--benchmark-compare=base.json", "--benchmark-compare-fail=median:50%", "--benchmark-json=loaded.json"]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * cpus)]
    try:
        loaded = run_benchmark(tmp_path, *gate)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "Comparing against benchmarks from" in loaded.stdout + loaded.stderr
    rounds = json.loads((tmp_path / "loaded.json").read_text())["benchmarks"][0]["extra_info"]["rounds"]
    assert sum(r["wall_s"] for r in rounds) > 1.5 * sum(r["cpu_s"] for r in rounds)  # the hog did bite

    slower = run_benchmark(tmp_path, *gate, slowdown=5)
    assert slower.returncode != 0
    assert "Performance has regressed" in slower.stdout + slower.stderr
