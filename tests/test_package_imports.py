"""The package's import graph: strictly downward, no cycle, no hidden function-level imports.

Read from the source with `ast`, so nothing is imported to check it. An
import inside a function is allowed only where it guards an optional
dependency: the optional package itself, or a project module that needs it
at its top.
"""
import ast
import os

import fcn_graph

PACKAGE_DIR = os.path.dirname(fcn_graph.__file__)
OPTIONAL = ("torch", "pydensecrf")
# A package that must import without TensorFlow keeps it optional for itself.
OPTIONAL_FOR = {"fcn_graph.testing": ("tensorflow", "keras")}


def optional_for(module):
    return sum((names for package, names in OPTIONAL_FOR.items()
                if module == package or module.startswith(package + ".")), ())


def modules():
    """{module name: parsed source} of every module of the package."""
    found = {}
    for root, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3]
                module = relative.replace(os.sep, ".").removesuffix(".__init__")
                with open(path) as f:
                    found[module] = ast.parse(f.read(), path)
    return found


def imported(node, module, known):
    """Names of the modules an Import/ImportFrom node brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    package = module if module in known and is_package(module) else module.rpartition(".")[0]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
    names = [f"{base}.{alias.name}" for alias in node.names]
    return [name if name in known else base for name in names]


def is_package(module):
    return os.path.isfile(os.path.join(os.path.dirname(PACKAGE_DIR), *module.split("."),
                                       "__init__.py"))


def top_level_imports(tree, module, known):
    found = set()
    for node in tree.body:
        for child in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.update(imported(child, module, known))
    return found


def function_imports(tree, module, known):
    found = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found += [(function.name, name) for name in imported(node, module, known)]
    return found


def root(name):
    return name.split(".")[0]


def test_no_import_cycle():
    trees = modules()
    graph = {m: {d for d in top_level_imports(t, m, trees) if d in trees and d != m}
             for m, t in trees.items()}
    # A package's own __init__ importing its submodules is its interface, not a cycle.
    for module, deps in graph.items():
        graph[module] = {d for d in deps if not d.startswith(module + ".")}
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_function_level_imports_only_guard_optional_dependencies():
    trees = modules()
    needs_optional = {m for m, t in trees.items()
                      if any(root(d) in OPTIONAL for d in top_level_imports(t, m, trees))}
    offending = []
    for module, tree in trees.items():
        allowed = OPTIONAL + optional_for(module)
        for function, name in function_imports(tree, module, trees):
            if root(name) not in allowed and name not in needs_optional:
                offending.append(f"{module}:{function} imports {name}")
    assert offending == []
