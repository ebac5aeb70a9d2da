"""Score start-up on a suite's traces: opening every trial as `score` does before its first estimate
(manifests and sizes checked, files hashed only when read), against opening and hashing every file up
front (what the trace store did before lazy hashing), then `verify_suite`.

    python benchmarks/trace_startup.py suites/nb201-cpu.toml     # after the suite is recorded
"""
import sys, time
from fhbench.engine.pipeline import load_traces, open_store, verify_suite
from fhbench.inputs.suite import load_suite
suite = load_suite(sys.argv[1])
for round in range(2):
    store = open_store(suite, "traces")
    start = time.perf_counter(); traces = load_traces(suite, store); lazy = time.perf_counter() - start
    store = open_store(suite, "traces")
    start = time.perf_counter(); traces = load_traces(suite, store)
    for t in traces: t.verify()
    eager = time.perf_counter() - start
    print(f"round {round}: open {len(traces)} trials lazily {lazy:.3f} s; open and hash every file {eager:.3f} s")
start = time.perf_counter(); problems = verify_suite(suite, open_store(suite, "traces"))
print(f"verify_suite: {len(problems)} problems in {time.perf_counter() - start:.2f} s")
