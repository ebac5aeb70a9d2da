"""The package's shape, checked from its source: no import cycles (imports inside functions count), no
private name imported across modules, and stage packages only at fhbench's top (docs/layout.md).
import-linter's layers contract (pyproject.toml, run by CI's `lint-imports`) checks the order of the
stages; this checks what it does not: cycles inside a stage and names that were meant to stay private."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"fhbench": REPO / "fhbench", "fhbench_baselines": REPO / "baselines"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]):
    """(imported module, imported name or None, line) for every fhbench import in the file, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base not in modules:
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule, None, node.lineno) if submodule in modules else (base, alias.name, node.lineno)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {target for target, _, _ in _imports(name, path, modules) if target != name}
            for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back():
    assert _cycles(_graph()) == []


def test_no_private_name_is_imported_from_another_module():
    modules = _modules()
    private = [f"{path.relative_to(REPO)}:{line} imports {target}.{imported}"
               for name, path in modules.items()
               for target, imported, line in _imports(name, path, modules)
               if imported is not None and imported.startswith("_") and not imported.startswith("__")
               and target != name]
    assert private == []


def test_fhbench_top_holds_only_the_command_line_and_the_stage_packages():
    top = sorted(p.name for p in (REPO / "fhbench").iterdir() if p.suffix == ".py")
    assert top == ["__init__.py", "__main__.py", "cli.py"]
    stages = sorted(p.name for p in (REPO / "fhbench").iterdir() if (p / "__init__.py").exists())
    assert stages == ["core", "engine", "estimators", "inputs", "publish", "record", "runtime", "score", "search",
                      "spaces"]
