"""Imports run one way down the layers: a module imports from its own package or from a lower layer, never
upwards or sideways, so no two subpackages import each other (directly or round a cycle).

The layer order is kept here, in one list. Every import in every module counts, also those inside a
function (the AST is walked), so a deferred import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import streammm

PACKAGE = Path(streammm.__file__).resolve().parent

# Top to bottom. A part is a subpackage (`server`) or a top-level module (`cli`); `streammm` itself is its
# __init__. Parts of the same layer may not import each other, except in the bottom layer (acyclic there).
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("cli",),
    ("dlq_cli",),  # the `dlq` subcommand
    ("eval", "bench", "bench_query"),  # measuring tools: they run the whole system through the root
    ("bench_load",),  # hostile clients and watch fan-out for the query bench and the soak test
    ("bench_corpus", "bench_report"),  # bench_query's synthetic corpus and its Markdown report
    ("node",),  # the composition root of `streammm up`
    ("server", "pipeline", "ingest", "client"),
    ("perception", "qa"),
    ("stages", "bus", "store"),
    ("models", "media"),
    ("streammm", "records", "config", "errors", "stats", "paths", "logs", "progress", "wire", "measure"),
]
LAYER_OF = {part: depth for depth, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """`streammm.server.app` -> `server`; `streammm.cli` -> `cli`; `streammm` -> `streammm`."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    name = ".".join(relative.parts)
    return name.removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    """The streammm modules `path` imports (relative imports resolved)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "streammm"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "streammm":
                found.add(target)
    return found


def edges() -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> the modules whose imports make that edge."""
    out: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = part_of(module_name(path))
        for target in imports(path):
            other = part_of(target)
            if other != source:
                out.setdefault((source, other), []).append(module_name(path))
    return out


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    missing = sorted(parts - set(LAYER_OF))
    assert not missing, f"give these a layer in LAYERS: {missing}"


def test_imports_run_one_way_down_the_layers():
    bottom = len(LAYERS) - 1
    wrong = [
        f"{a} (layer {LAYER_OF[a]}) imports {b} (layer {LAYER_OF[b]}) in {', '.join(sorted(set(where)))}"
        for (a, b), where in sorted(edges().items())
        if LAYER_OF[b] < LAYER_OF[a] or (LAYER_OF[b] == LAYER_OF[a] and LAYER_OF[a] != bottom)
    ]
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycle_between_parts():
    graph: dict[str, set[str]] = {}
    for a, b in edges():
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if state.get(nxt) is None and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [])
            assert cycle is None, "import cycle: " + " -> ".join(cycle[cycle.index(cycle[-1]):])


def test_only_the_bus_kafka_module_imports_aiokafka():
    users = sorted(
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        if any(isinstance(n, (ast.Import, ast.ImportFrom)) and "aiokafka" in ast.unparse(n) for n in ast.walk(ast.parse(p.read_text())))
    )
    assert users == ["streammm.bus.kafka"], users
