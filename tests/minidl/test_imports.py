"""The import graph of minidl, transfer and zoo (DESIGN.md §1): the modules form a DAG (the
autograd <-> ops arithmetic pair aside), the engine imports neither zoo nor transfer (the CLI on
the top floor may), only the ``minidl demo`` command reaches the demo, every module imports on
its own in a fresh interpreter, and ``import minidl`` loads no optional dependency.

The graph is read from the source with ``ast``, so it sees module-level and function-level
imports alike: an import inside a function is a dependency too, only a later one. Modules are
discovered, never listed, so new ones are checked as they come.
"""

import ast
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("minidl", "transfer", "zoo")

# Edges the cycle check leaves out, and why: the one pair DESIGN.md allows.
ALLOWED = {
    ("minidl.autograd.tensor", "minidl.ops.math"):
        "Tensor's operators (+, *, @, ...) are ops.math Functions, which build Tensors",
}

# Cycles allowed for now beyond that pair: the back edge of each, naming the file to change. None
# remain; an entry added here must say why, and a test below says when it can go.
KNOWN = {}

# `minidl demo` runs the demo: the one module outside transfer/demo that may import it.
DEMO_COMMAND = "minidl.cli.demo"

OPTIONAL = ("cupy", "h5py", "dask", "onnx", "tensorboardX", "torch", "numba")


# -- reading the graph --------------------------------------------------------------------------

def discover(root, packages):
    """{module name: path} for every .py file under the ``packages`` folders of ``root``."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _absolute(node, name, is_package):
    """The module a ``from ... import`` names, relative imports resolved against ``name``."""
    if not node.level:
        return node.module
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name, path, modules):
    """The project modules that module ``name`` imports, anywhere in it: ``import pkg.mod`` is
    an edge to ``pkg.mod``; ``from pkg import x`` to ``pkg.x`` if that is a module, else to
    ``pkg``."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, path.name == "__init__.py")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in modules:
                    targets.add(full)
                elif base in modules:
                    targets.add(base)
    targets.discard(name)
    return targets


def build_graph(root, packages):
    """{module: set of the modules it imports}."""
    modules = discover(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


@functools.lru_cache(maxsize=None)
def _project_graph():
    return build_graph(ROOT, PACKAGES)


def project_graph():
    return {name: set(targets) for name, targets in _project_graph().items()}


def cycles(graph):
    """One cycle (a list of modules, first repeated last) per strongly connected component of
    more than one module (Tarjan's algorithm, then a path around the component)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while not component or w != v:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_path_around(graph, component) for component in components]


def _path_around(graph, component):
    """A short cycle through the smallest module of ``component``: breadth-first from it until
    an edge leads back."""
    start = min(component)
    came_from, frontier = {start: None}, [start]
    while frontier:
        next_frontier = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while came_from[path[-1]] is not None:
                        path.append(came_from[path[-1]])
                    return path[::-1] + [start]
                if w not in came_from:
                    came_from[w] = v
                    next_frontier.append(w)
        frontier = next_frontier
    raise AssertionError(f"no cycle through {start}")


def _without(graph, edges):
    return {v: {w for w in targets if (v, w) not in edges} for v, targets in graph.items()}


def _in(name, package):
    return name == package or name.startswith(package + ".")


# -- the machinery, on a tree made for it ---------------------------------------------------------

def _tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_graph_sees_every_kind_of_import_and_finds_the_cycles(tmp_path):
    _tree(tmp_path, {
        "pkg/__init__.py": "from pkg.a import thing\n",
        "pkg/a.py": "import os\nthing = 1\n\ndef later():\n    from pkg import b\n",
        "pkg/b.py": "from . import c\nfrom .c import value\n",
        "pkg/c.py": "from pkg import thing\nvalue = 2\n",
        "pkg/sub/__init__.py": "from ..a import thing\nimport pkg.sub.d\n",
        "pkg/sub/d.py": "",
    })
    graph = build_graph(tmp_path, ["pkg"])
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"},
                     "pkg.c": {"pkg"}, "pkg.sub": {"pkg.a", "pkg.sub.d"}, "pkg.sub.d": set()}
    assert cycles(graph) == [["pkg", "pkg.a", "pkg.b", "pkg.c", "pkg"]]
    assert cycles(_without(graph, {("pkg.a", "pkg.b")})) == []


def test_two_cycles_are_both_reported():
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(cycles(graph)) == [["a", "b", "a"], ["c", "d", "e", "c"]]


# -- the project ----------------------------------------------------------------------------------

def test_modules_form_a_dag():
    found = cycles(_without(project_graph(), set(ALLOWED) | set(KNOWN)))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_every_excepted_edge_still_exists():
    graph = project_graph()
    gone = [f"{v} -> {w}" for v, w in {**ALLOWED, **KNOWN} if w not in graph.get(v, ())]
    assert not gone, f"no longer imported, delete from this test's exceptions: {gone}"


def test_the_engine_imports_neither_zoo_nor_transfer():
    engine = {v: targets for v, targets in project_graph().items()
              if _in(v, "minidl") and not _in(v, "minidl.cli")}
    upward = sorted(f"{v} -> {w}" for v, targets in engine.items() for w in targets
                    if _in(w, "zoo") or _in(w, "transfer"))
    assert not upward, f"minidl must not import zoo or transfer (only its CLI may): {upward}"


def test_only_the_demo_command_imports_the_demo():
    users = sorted(f"{v} -> {w}" for v, targets in project_graph().items() for w in targets
                   if _in(w, "transfer.demo") and not _in(v, "transfer.demo")
                   and v != DEMO_COMMAND)
    assert not users, f"production code must not depend on the demo: {users}"


# One interpreter for all modules: each is imported after every minidl/transfer/zoo module is
# dropped from sys.modules, so it must bring what it needs by itself.
_IMPORT_EACH = """
import importlib, json, sys, traceback
sys.path.insert(0, sys.argv[1])  # the checkout under test, not an installed copy
failures = {}
for name in json.loads(sys.stdin.read()):
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("minidl", "transfer", "zoo")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException:
        failures[name] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""


def _python(code, *args, stdin=""):
    env = {**os.environ, "MINIDL_DEVICE": ""}  # the default device: no GPU asked for
    done = subprocess.run([sys.executable, "-c", code, *args], input=stdin, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_every_module_imports_first_in_a_fresh_interpreter():
    # __main__ modules are scripts (importing one runs the command): test_cli runs them.
    names = sorted(name for name in project_graph() if not name.endswith("__main__"))
    failures = _python(_IMPORT_EACH, str(ROOT), stdin=json.dumps(names))
    assert not failures, "\n".join(f"import {name} first:\n{tb}" for name, tb in failures.items())


def test_import_minidl_loads_no_optional_dependency():
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import minidl; "
            f"print(json.dumps([m for m in {list(OPTIONAL)!r} if m in sys.modules]))")
    assert _python(code, str(ROOT)) == []
