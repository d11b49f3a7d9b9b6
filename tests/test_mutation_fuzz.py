"""Mutation fuzz over the committed skills: several hundred seeded mutations of copies of the three skills
-- truncation at many offsets, deleted files and lines, bad YAML and JSON, wrong types, bytes that are
not UTF-8, symlinks, FIFOs and directories in place of files, schema $refs, YAML aliases, out-of-range
settings, empty enums, inconsistent demos -- each either loads cleanly or raises a one-line
SkillFormatError naming the file (and the line or field where it applies). Nothing else is raised,
the network is never touched and no file outside the skill directory is opened."""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from skillforge import Ledger, Skill, SkillFormatError, load_skill
from skillforge.run import Runner
from skillforge.testing import QueuedModel

ROOT = Path(__file__).resolve().parent.parent
SKILLS = ["address-parser", "intent-router", "review-sentiment"]
FILES = ("skill.yaml", "instructions.md", "examples.jsonl", "tests.jsonl")
SEED = 20_260_110
SECRET = "FUZZ-SECRET-OUTSIDE-THE-SKILL"
Mutate = Callable[[Path], None]


@dataclass(frozen=True)
class Mutation:
    """One change to a skill copy and what loading it must give: ``error`` demands a SkillFormatError
    (naming ``file``, with a ``line`` or a ``field`` starting with ``field`` when set); otherwise a clean
    load is fine too."""

    name: str
    mutate: Mutate
    error: bool = False
    file: str | None = None
    field: str | None = None
    line: bool = False


# -- what a load may touch ---------------------------------------------------------------------------

_WATCH: list[list[str]] = []  # the open/connect events of the mutation being loaded, when watching
_ALLOWED = tuple({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                  ROOT / "skillforge")})


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCH:
        return
    if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _WATCH[-1].append(os.path.realpath(os.fsdecode(args[0])))
    elif event.startswith("socket."):
        _WATCH[-1].append(f"<{event}>")


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one only records while _WATCH is set


def _refuse_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("network access during a skill load")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("socket", "create_connection", "getaddrinfo", "socketpair"):
        monkeypatch.setattr(socket, name, _refuse_network)


# -- mutations ---------------------------------------------------------------------------------------


def _text(path: Path, name: str) -> str:
    return (path / name).read_text(encoding="utf-8")


def _set(name: str, text: str | bytes) -> Mutate:
    def mutate(path: Path) -> None:
        if isinstance(text, bytes):
            (path / name).write_bytes(text)
        else:
            (path / name).write_text(text, encoding="utf-8")
    return mutate


def _yaml(change: Callable[[dict[str, Any]], None]) -> Mutate:
    def mutate(path: Path) -> None:
        data = yaml.safe_load(_text(path, "skill.yaml"))
        change(data)
        (path / "skill.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return mutate


def _setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return change


def truncations(source: Path, rng: random.Random) -> Iterator[Mutation]:
    for name, count in (("skill.yaml", 24), ("examples.jsonl", 4), ("tests.jsonl", 4), ("instructions.md", 2)):
        data = (source / name).read_bytes()
        if not data:
            continue
        for cut in sorted(rng.sample(range(len(data)), min(count, len(data)))):
            # Any cut of skill.yaml must fail; a JSONL cut at a line boundary is still valid JSON Lines
            # (the content hash then warns), mid-line it names the line.
            yield Mutation(f"truncate {name} at {cut}", _set(name, data[:cut]), error=name == "skill.yaml",
                           file=name)


def deletions(source: Path, rng: random.Random) -> Iterator[Mutation]:
    for name in FILES:
        yield Mutation(f"delete {name}", lambda p, n=name: (p / n).unlink(), error=True, file=name)
    for name, count in (("skill.yaml", 12), ("examples.jsonl", 2), ("tests.jsonl", 2)):
        lines = (source / name).read_text(encoding="utf-8").split("\n")[:-1]
        for i in sorted(rng.sample(range(len(lines)), min(count, len(lines)))):
            text = "".join(line + "\n" for j, line in enumerate(lines) if j != i)
            yield Mutation(f"delete line {i + 1} of {name}", _set(name, text), file=name)


BAD_YAML = ["key: [unclosed", "\tindented: 1", "- stray item", ": :", "{{", "'unterminated", "a: b: c",
            "x: &anchor [1]\ny: *anchor", "x: !!python/object:os.system ls", "x: " + "[" * 150 + "]" * 150,
            "format_version: 1", "x: !!binary aGk=", "x: .nan", "1: one", "<<: {a: 1}", "x: !!int abc",
            "x: !!bool maybe", "x: !!map [1]", "x: 0x" + "f" * 5000, "x: " + "9" * 5000]


def bad_yaml(source: Path, rng: random.Random) -> Iterator[Mutation]:
    lines = (source / "skill.yaml").read_text(encoding="utf-8").split("\n")
    for junk in BAD_YAML:
        for at in (rng.choice([rng.randrange(len(lines)), len(lines) - 1]),):
            text = "\n".join([*lines[:at], junk, *lines[at:]])
            yield Mutation(f"insert {junk[:20]!r} at line {at + 1}", _set("skill.yaml", text), file="skill.yaml")


BAD_JSON = ["{not json", "[]", "null", '{"input": 1}', '{"input": {"text": 1e999}}', '"\\ud800"',
            '{"input": ' + "[" * 300 + "]" * 300 + "}", "", '{"input": {}, "unexpected": true}']


def bad_json(source: Path, rng: random.Random) -> Iterator[Mutation]:
    for name in ("examples.jsonl", "tests.jsonl"):
        lines = (source / name).read_text(encoding="utf-8").split("\n")[:-1]
        for junk in rng.sample(BAD_JSON, 5):
            at = rng.randrange(len(lines) + 1)
            text = "".join(line + "\n" for line in [*lines[:at], junk, *lines[at:]])
            yield Mutation(f"{name}: insert {junk[:20]!r} at line {at + 1}", _set(name, text), error=True,
                           file=name, line=True)


WRONG = [[1, 2], {"a": 1}, "text", True, -1, 1.5, None, 10**30, ""]


def wrong_types(source: Path, rng: random.Random) -> Iterator[Mutation]:
    data = yaml.safe_load((source / "skill.yaml").read_text(encoding="utf-8"))
    keys = [f"{section}.{k}" for section in ("settings", "provenance", "metrics") for k in data[section]]
    keys += ["name", "description", "input_schema", "output_schema"]
    for key in rng.sample(keys, 10):
        value = rng.choice(WRONG)
        yield Mutation(f"{key} = {value!r}", _yaml(_setting(key, value)), file="skill.yaml")


def not_utf8(source: Path, rng: random.Random) -> Iterator[Mutation]:
    for name in FILES:
        data = (source / name).read_bytes()
        for junk in rng.sample([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82", b"\xc0\xaf"], 2):
            at = rng.randrange(len(data) + 1)
            yield Mutation(f"{name}: bytes {junk!r} at {at}", _set(name, data[:at] + junk + data[at:]), error=True,
                           file=name, line=True)


def _outside(path: Path) -> Path:
    secret = path.parent / "outside.txt"
    secret.write_text(f"{SECRET}\n")
    return secret


def _replace_with(name: str, make: Callable[[Path, Path], None]) -> Mutate:
    def mutate(path: Path) -> None:
        target = path / name
        content = target.read_bytes() if target.exists() else b""
        target.unlink(missing_ok=True)
        make(path, target)
        copy = path.parent / f"copy-{name}"
        copy.write_bytes(content)
    return mutate


def symlinks(source: Path, rng: random.Random) -> Iterator[Mutation]:
    for name in (*FILES, "escalations.jsonl"):
        def to_copy(p: Path, t: Path, n: str = name) -> None:  # same bytes, but outside the skill
            (p.parent / f"outside-{n}").write_bytes((source / n).read_bytes() if (source / n).exists() else b"")
            t.symlink_to(p.parent / f"outside-{n}")

        yield Mutation(f"{name} -> identical copy outside", _replace_with(name, to_copy), error=True, file=name)
        yield Mutation(f"{name} -> secret outside", _replace_with(name, lambda p, t: t.symlink_to(_outside(p))),
                       error=True, file=name)
        yield Mutation(f"{name} -> /dev/zero", _replace_with(name, lambda p, t: t.symlink_to("/dev/zero")),
                       error=True, file=name)
        yield Mutation(f"{name} -> itself", _replace_with(name, lambda p, t: t.symlink_to(t.name)), error=True,
                       file=name)
        if name != "escalations.jsonl":
            yield Mutation(f"{name} is a directory", _replace_with(name, lambda p, t: t.mkdir()), error=True, file=name)
            yield Mutation(f"{name} is a FIFO", _replace_with(name, lambda p, t: os.mkfifo(t)), error=True, file=name)

            def inside(p: Path, t: Path, n: str = name) -> None:
                (p / f"real-{n}").write_bytes((source / n).read_bytes())
                t.symlink_to(f"real-{n}")

            yield Mutation(f"{name} -> a copy inside", _replace_with(name, inside))
    def cassettes_outside(p: Path) -> None:
        shutil.rmtree(p / "cassettes")
        (p / "cassettes").symlink_to(p.parent)

    yield Mutation("cassettes -> outside", cassettes_outside, error=True, file="cassettes")


def _first_property(data: dict[str, Any], which: str) -> str:
    return next(iter(data[which]["properties"]))


def refs(source: Path, rng: random.Random) -> Iterator[Mutation]:
    for which in ("input_schema", "output_schema"):
        for ref in ("http://127.0.0.1:9/s.json", "https://example.com/s.json", "file:///etc/passwd", "s.json",
                    "#/$defs/missing", "#/properties/nope", "urn:x", "#/properties/{self}"):
            def change(data: dict[str, Any], w: str = which, r: str = ref) -> None:
                prop = _first_property(data, w)
                data[w]["properties"][prop] = {"$ref": r.replace("{self}", prop)}  # {self}: a ref loop

            yield Mutation(f"{which} $ref {ref}", _yaml(change), error=True, file="skill.yaml", field=which)

        def local(data: dict[str, Any], w: str = which) -> None:
            prop = _first_property(data, w)
            data[w]["$defs"] = {"p": data[w]["properties"][prop]}
            data[w]["properties"][prop] = {"$ref": "#/$defs/p"}

        yield Mutation(f"{which} valid local $ref", _yaml(local), file="skill.yaml")


def aliases(source: Path, rng: random.Random) -> Iterator[Mutation]:
    text = (source / "skill.yaml").read_text(encoding="utf-8")
    yield Mutation("alias of the description", _set("skill.yaml", text.replace("description: ", "description: &d ", 1)
                                                     + "extra: *d\n"), error=True, file="skill.yaml", line=True)
    laughs = ['lol0: &l0 "lol"'] + [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    yield Mutation("billion laughs", _set("skill.yaml", "\n".join(laughs) + "\n" + text), error=True,
                   file="skill.yaml", line=True)
    aliased = text.replace("instructions_source: ", "instructions_source: &i ", 1)
    aliased = aliased.replace("\n  demo_strategy: ", "\n  demo_strategy: *i\n  x: ", 1)
    yield Mutation("aliased instructions_source", _set("skill.yaml", aliased), error=True, file="skill.yaml")


OUT_OF_RANGE = [("settings.k", -1), ("settings.threshold", 1.5), ("settings.threshold", -0.1),
                ("settings.target_precision", 0), ("settings.max_reasks", 10**9), ("settings.max_reasks", -1),
                ("settings.temperature", -1.0), ("settings.temperature", 1e300), ("settings.max_tokens", 0),
                ("settings.max_tokens", 10**12), ("settings.min_pass_rate", 2), ("settings.confidence.samples", 0),
                ("settings.confidence.samples", 10**7), ("settings.confidence.temperature", 99.0),
                ("settings.escalation_prompt", "everything"), ("settings.demo_strategy", "magic"),
                ("settings.max_reasks", True), ("settings.threshold", "0.5"), ("format_version", True),
                ("format_version", "1"), ("format_version", 1.0), ("format_version", 2)]


def out_of_range(source: Path, rng: random.Random) -> Iterator[Mutation]:
    for key, value in OUT_OF_RANGE:
        yield Mutation(f"{key} = {value!r}", _yaml(_setting(key, value)), error=True, file="skill.yaml", field=key)
    text = (source / "skill.yaml").read_text(encoding="utf-8")
    for raw in (".inf", "-.inf", ".nan"):
        yield Mutation(f"temperature {raw}", _set("skill.yaml", text.replace("\n  temperature: 0.0\n",
                                                                            f"\n  temperature: {raw}\n", 1)),
                       error=True, file="skill.yaml", line=True)


def empty_enums(source: Path, rng: random.Random) -> Iterator[Mutation]:
    for which in ("input_schema", "output_schema"):
        def empty(data: dict[str, Any], w: str = which) -> None:
            data[w]["properties"][_first_property(data, w)]["enum"] = []

        def extra(data: dict[str, Any], w: str = which) -> None:
            data[w]["properties"]["never"] = {"type": "string", "enum": []}

        def impossible(data: dict[str, Any], w: str = which) -> None:
            data[w]["properties"][_first_property(data, w)] = {"type": "integer", "minimum": 2, "maximum": 1}
            data[w]["required"] = [_first_property(data, w)]

        for change in (empty, extra, impossible):
            yield Mutation(f"{which}: {change.__name__}", _yaml(change), error=True, file="skill.yaml", field=which)


def inconsistent(source: Path, rng: random.Random) -> Iterator[Mutation]:
    demos = (source / "examples.jsonl").read_text(encoding="utf-8")
    tests = (source / "tests.jsonl").read_text(encoding="utf-8")
    yield Mutation("demo strategy fixed with the wrong k", _yaml(lambda d: d["settings"].update(
        demo_strategy="fixed", k=len(demos.splitlines()) + 1)), error=True, file="skill.yaml", field="settings.k")
    yield Mutation("retrieved k beyond the demos", _yaml(lambda d: d["settings"].update(
        demo_strategy="retrieved", k=len(demos.splitlines()) + 5)), error=True, file="skill.yaml", field="settings.k")
    yield Mutation("comparator for an unknown field", _yaml(lambda d: d["settings"].update(
        comparators={"nope": {"kind": "exact"}})), error=True, file="skill.yaml", field="settings.comparators")
    bad_rows = ['{"input": {"text": "x"}, "output": {"zz": 1}, "source": "label"}',
                '{"input": {"text": "x"}, "output": {}, "source": "oracle"}',
                '{"input": {"nope": 1}, "output": {}, "source": "label"}']
    for row in bad_rows:
        yield Mutation(f"demo {row[:30]}", _set("examples.jsonl", demos + row + "\n"), error=True,
                       file="examples.jsonl", line=True)
    for row in ('{"input": {"text": "x"}, "expected": {"zz": 1}}', '{"input": {"text": 3}, "expected": {}}'):
        yield Mutation(f"test {row[:30]}", _set("tests.jsonl", tests + row + "\n"), error=True, file="tests.jsonl",
                       line=True)


CLASSES: dict[str, Callable[[Path, random.Random], Iterator[Mutation]]] = {
    f.__name__: f for f in (truncations, deletions, bad_yaml, bad_json, wrong_types, not_utf8, symlinks, refs,
                            aliases, out_of_range, empty_enums, inconsistent)
}


def _skip_cassette_files(directory: str, names: list[str]) -> list[str]:
    return names if Path(directory).name == "cassettes" else []


# -- the check -----------------------------------------------------------------------------------------


def _use(skill: Skill) -> None:
    """A clean load must be usable: the first regression input passes the checks and renders a prompt."""
    if skill.tests:
        runner = Runner(skill, student=QueuedModel([]), teacher=QueuedModel([]), ledger=Ledger(None))
        runner.request_for(skill.spec.check_input(skill.tests[0].input))


def _check(mutation: Mutation, path: Path) -> str | None:
    """What is wrong with loading ``path`` after ``mutation``, or ``None``."""
    _WATCH.append([])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            skill = load_skill(path)
            _use(skill)
        outcome: BaseException | None = None
    except SkillFormatError as exc:
        outcome = exc
    except BaseException as exc:
        return f"raised {type(exc).__name__}: {exc}"[:300]
    finally:
        touched = _WATCH.pop()
    base = os.path.realpath(path)
    strays = [t for t in touched if not (t == base or t.startswith(base + os.sep) or t.startswith(_ALLOWED))]
    if strays:
        return f"touched outside the skill: {strays}"
    if outcome is None:
        return "loaded, but must fail" if mutation.error else None
    assert isinstance(outcome, SkillFormatError)
    message = str(outcome)
    problems = []
    if "\n" in message or SECRET in message or len(message) > 2000:
        problems.append("message not one clean line")
    if mutation.file is not None and outcome.file != mutation.file and mutation.error:
        problems.append(f"names {outcome.file!r}, not {mutation.file!r}")
    if outcome.file not in (*FILES, "escalations.jsonl", "cassettes") and not outcome.file.startswith(str(path)):
        problems.append(f"names unknown file {outcome.file!r}")
    if mutation.field and not (outcome.field or "").startswith(mutation.field):
        problems.append(f"field {outcome.field!r}, not {mutation.field!r}")
    if mutation.line and outcome.line is None:
        problems.append("no line number")
    return f"{message[:200]} -- " + "; ".join(problems) if problems else None


@pytest.mark.parametrize("kind", list(CLASSES))
@pytest.mark.parametrize("name", SKILLS)
def test_every_mutation_loads_cleanly_or_is_a_skill_format_error_naming_the_file(
    tmp_path: Path, name: str, kind: str
) -> None:
    source = ROOT / "skills" / name
    rng = random.Random(f"{SEED}:{name}:{kind}")
    findings, count = [], 0
    for i, mutation in enumerate(CLASSES[kind](source, rng)):
        work = tmp_path / f"m{i}"
        # Cassettes are not read by a load; the copy keeps an empty directory of that name.
        path = Path(shutil.copytree(source, work / name, ignore=_skip_cassette_files))
        mutation.mutate(path)
        problem = _check(mutation, path)
        if problem is not None:
            findings.append(f"{mutation.name}: {problem}")
        count += 1
    assert count >= 3
    assert findings == [], "\n".join(findings)


def test_the_fuzz_runs_several_hundred_mutations_of_every_class() -> None:
    counts = {kind: sum(len(list(make(ROOT / "skills" / name, random.Random(0)))) for name in SKILLS)
              for kind, make in CLASSES.items()}
    assert all(n >= 9 for n in counts.values()) and 400 <= sum(counts.values()) <= 800, counts


def test_the_watch_notices_files_opened_outside_the_skill_and_sockets(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(SECRET)
    _WATCH.append([])
    try:
        outside.read_text()
        with pytest.raises(AssertionError, match="network"):
            socket.create_connection(("127.0.0.1", 9))
    finally:
        touched = _WATCH.pop()
    assert os.path.realpath(outside) in touched and "<socket.connect>" not in touched  # refused before
