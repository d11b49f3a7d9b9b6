"""The package's shape is part of its contract: imports run one way (no cycles, function-local imports
included), functions and modules stay readable, and only the terminal layer talks to the terminal."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "skillforge"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400


def _graph() -> grimp.ImportGraph:
    # Annotation-only imports (under TYPE_CHECKING) never execute; every other import counts,
    # function-local ones included.
    return grimp.build_graph("skillforge", include_external_packages=True, exclude_type_checking_imports=True)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import cycles."""
    modules = sorted(m for m in graph.modules if m.startswith("skillforge"))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v)):
            if not w.startswith("skillforge"):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for m in modules:
        if m not in index:
            visit(m)
    return out


def test_the_package_has_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_only_the_terminal_layer_imports_rich() -> None:
    graph = _graph()
    importers = {m for m in graph.find_modules_that_directly_import("rich") if m.startswith("skillforge")}
    assert importers and all(m.startswith("skillforge.cli") for m in importers), sorted(importers)


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_stay_short(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{node.name} is {length} lines"


def test_prompt_templates_are_real_files_the_package_ships() -> None:
    import tomllib

    data = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert "templates/*.j2" in data["tool"]["setuptools"]["package-data"]["skillforge"]
    names = {p.stem for p in (PACKAGE / "templates").glob("*.j2")}
    assert {"system", "reask", "template_instructions", "draft_user", "refine_user"} <= names


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("skillforge.a", "skillforge.b"), ("skillforge.b", "skillforge.c"),
                               ("skillforge.c", "skillforge.a"), ("skillforge.c", "skillforge.d")]:
        graph.add_import(importer=importer, imported=imported)
    assert _cycles(graph) == [["skillforge.a", "skillforge.b", "skillforge.c"]]


@pytest.mark.parametrize("extra", ["mcp", "mcp_types", "pydantic_ai", "uvicorn"])
def test_only_the_adapters_import_an_optional_extra(extra: str) -> None:
    graph = _graph()
    if extra not in graph.modules:
        pytest.skip(f"{extra} is not imported anywhere")
    importers = {m for m in graph.find_modules_that_directly_import(extra) if m.startswith("skillforge")}
    assert all(m.startswith("skillforge.adapters") for m in importers), sorted(importers)


#: Optional extras and the only modules that may import them (everything else runs without them).
EXTRAS = {"openai": {"skillforge.models.openai_compat.model"}, "ray": {"skillforge.adapters.ray"},
          "pyarrow": {"skillforge.adapters.ray"}}


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_an_optional_extra_is_imported_only_by_its_own_module(extra: str) -> None:
    importers = {m for m in _graph().find_modules_that_directly_import(extra) if m.startswith("skillforge")}
    assert importers == EXTRAS[extra]


def test_importing_skillforge_and_its_cli_loads_no_optional_extra() -> None:
    import subprocess
    import sys

    code = ("import sys, skillforge, skillforge.cli, skillforge.models.registry; "
            f"print(sorted(m for m in {sorted(EXTRAS)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]"


#: Entry points a user calls with keyword options (the async cores behind the public verbs and the skill's
#: run methods); command-line commands and constructors are exempt too.
ENTRY_POINTS = {"acompile_skill", "aevaluate_skill", "aupdate_skill", "aretarget_skill", "arun_batch", "arun_suite",
                "arun", "arun_many"}


def _long_signatures() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args
            names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
            count = len([n for n in names if n not in ("self", "cls")]) + bool(args.vararg) + bool(args.kwarg)
            if count > 8 and node.name != "__init__" and node.name not in ENTRY_POINTS:
                found.append(f"{path.relative_to(PACKAGE)}:{node.name} ({count})")
    return found


def test_at_most_three_internal_functions_take_more_than_eight_parameters() -> None:
    """Long parameter lists are grouped into the objects they describe (a CallSite, an Acceptance, an
    Answerer, a PromptStyle...) rather than threaded one by one."""
    long = _long_signatures()
    assert len(long) <= 3, long
