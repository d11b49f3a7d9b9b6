"""The documentation runs: every ```python block of README.md and docs/**/*.md executes, and the site builds.

Each block runs in a fresh namespace, in a temporary working directory holding a copy of the committed
skills (so ``load_skill("skills/intent-router")`` works and nothing is written into the repository),
with ``SKILLFORGE_LEDGER`` pointed into that directory and no API key. Blocks must therefore run
offline and fast: they use the test doubles of ``skillforge.testing`` or replay recorded answers. A
block that cannot (it needs ``ANTHROPIC_API_KEY`` or runs the real local model) is marked with a fence
info string containing ``skip``, e.g. ```` ```python {.skip} ````, and is skipped here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SKILLS = ROOT / "skills"
#: A fence opening at the start of a line: its info string, then the body up to the closing fence.
FENCE = re.compile(r"^```(?P<info>[^`\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
#: Blocks that may not run here; keep them few (each is a piece of documentation nothing checks).
MAX_SKIPPED = 6


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    info: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def skipped(self) -> bool:
        return "skip" in self.info


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of one Markdown file (first word of the info string is ``python``)."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        info = m.group("info").strip()
        if info.split(" ", 1)[0] != "python":
            continue
        line = text.count("\n", 0, m.start()) + 1
        blocks.append(Block(path, line, info, m.group("body")))
    return blocks


BLOCKS = [b for f in doc_files() for b in python_blocks(f)]


@pytest.fixture
def docs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch working directory with a copy of the committed skills, an isolated ledger, no keys."""
    shutil.copytree(SKILLS, tmp_path / "skills")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKILLFORGE_LEDGER", str(tmp_path / ".skillforge" / "ledger.jsonl"))
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "SKILLFORGE_TEACHER", "SKILLFORGE_STUDENT"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_python_block_runs(block: Block, docs_dir: Path) -> None:
    if block.skipped:
        pytest.skip(f"marked {block.info!r}")
    code = compile(block.code, block.id, "exec")
    exec(code, {"__name__": "__docs__"})


def test_docs_have_runnable_examples() -> None:
    runnable = [b for b in BLOCKS if not b.skipped]
    assert any(b.path.name == "README.md" for b in runnable), "README.md should show a runnable python example"
    skipped = [b.id for b in BLOCKS if b.skipped]
    assert len(skipped) <= MAX_SKIPPED, f"too many skipped doc blocks (make them runnable): {skipped}"
    # An indented fence (inside a list item) would escape extraction: keep python fences at the margin.
    for path in doc_files():
        indented = re.findall(r"^[ \t]+```python", path.read_text(encoding="utf-8"), re.MULTILINE)
        assert not indented, f"{path.relative_to(ROOT)}: indented ```python fence; move it out of the list"


def test_readme_keeps_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme


def test_readme_links_resolve() -> None:
    """Relative links of the README (into docs/) point at files that exist."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t]
    assert local, "README.md should link into docs/"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def _price_rows() -> dict[str, tuple[float, float]]:
    """model -> (input, output) $/MTok from the price table in docs/models.md."""
    text = (DOCS / "models.md").read_text(encoding="utf-8")
    rows: dict[str, tuple[float, float]] = {}
    for m in re.finditer(r"^\| (`claude[^|]+)\| ([\d.]+) \| ([\d.]+) \|", text, re.MULTILINE):
        for name in re.findall(r"`([^`]+)`", m.group(1)):
            rows[name] = (float(m.group(2)), float(m.group(3)))
    return rows


def test_price_table_matches_the_code() -> None:
    from skillforge.models.pricing import PRICES, PRICES_CHECKED

    rows = _price_rows()
    assert rows.keys() == set(PRICES), "docs/models.md lists a different set of models than skillforge.models.pricing"
    for name, (inp, out) in rows.items():
        assert (PRICES[name].input_per_mtok, PRICES[name].output_per_mtok) == (inp, out), name
    assert f"checked on {PRICES_CHECKED.isoformat()}" in (DOCS / "models.md").read_text(encoding="utf-8")


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """The site builds with --strict (broken links, anchors or API references fail). About 5-10 s."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs / mkdocstrings not installed")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def _benchmark_module() -> object:
    spec = importlib.util.spec_from_file_location("bench_benchmark", ROOT / "bench" / "benchmark.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_figures_in_readme_and_docs_are_the_result_files() -> None:
    """Every figure between the benchmark's markers (README's headline table, docs/benchmarks.md's tables)
    is what bench/benchmark.py renders from bench/results/benchmark.json; without that file there are none."""
    bench: Any = _benchmark_module()
    result = ROOT / "bench" / "results" / "benchmark.json"
    doc = json.loads(result.read_text(encoding="utf-8")) if result.exists() else None
    for page, (start, end, body) in bench.blocks(doc).items():
        text = page.read_text(encoding="utf-8")
        assert start in text and end in text, f"{page.name} lost its benchmark markers"
        assert bench.between(text, start, end) == body, (
            f"{page.name}: the benchmark figures differ from {result.name}; redraw them with "
            "`.venv/bin/python bench/benchmark.py --render`")


def test_no_figure_is_priced_as_a_retired_reference_model() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    for old in ("Opus 4.8", "Haiku 4.5", "Opus 4.5"):
        assert old not in readme and old not in benchmarks, old


def test_every_result_file_cited_exists() -> None:
    """A figure quoted from bench/results/ points at a file a command writes; superseded ones are gone."""
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    cited = {(page.name, m) for page in pages
             for m in re.findall(r"bench/results/[\w.-]+\.(?:md|json)", page.read_text(encoding="utf-8"))}
    missing = sorted((name, m) for name, m in cited if not (ROOT / m).exists() and m != "bench/results/benchmark.json")
    assert not missing, missing
