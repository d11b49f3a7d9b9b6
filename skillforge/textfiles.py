"""Persisted text, read and written defensively: every skill file, spec, cassette and log passes here.

- **Reading** (:func:`read_text`) opens without blocking (a FIFO named like a skill file is refused,
  not waited on), refuses anything that is not a regular file or is larger than a cap, and decodes
  UTF-8 strictly; a bad byte is a :class:`TextFileError` naming its line, never a raw
  ``UnicodeDecodeError``.
- **YAML** (:func:`load_yaml`) is parsed into JSON-compatible data only: aliases (``*name``, which
  can expand a few bytes into megabytes), merge keys, duplicate or non-string keys, explicit tags
  (``!!python/...``, ``!!binary``, any ``!tag``), integers of more than 4,300 digits, non-finite
  numbers and nesting deeper than :data:`MAX_YAML_DEPTH` are errors. Unquoted dates stay strings.
  Errors are one line with the line and column. :func:`dump_yaml` writes no aliases and
  double-quotes strings holding U+0085, U+2028 or U+2029 (PyYAML mangles them in other styles), so
  dump -> load round-trips any text.
- **Writing**: :func:`write_atomic` writes a temporary file (never through a symlink) and renames it
  over the target; :func:`append_line` appends one whole line with ``O_APPEND``, starting a new line
  if a crash left the last one torn, and loops over short writes until every byte is written.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

import yaml

#: Largest persisted text file read (bytes); a skill's files are kilobytes.
MAX_FILE_BYTES = 32 * 1024 * 1024
#: Deepest YAML nesting accepted (a JSON Schema nests a dozen levels; PyYAML recurses per level).
MAX_YAML_DEPTH = 100
#: Longest integer accepted: Python prints at most 4,300 decimal digits (about 14,284 bits).
MAX_INT_DIGITS = 4300
MAX_INT_BITS = 14_000


class TextFileError(ValueError):
    """A persisted text that cannot be read or parsed. One line; ``line``/``column`` when known."""

    def __init__(self, problem: str, *, line: int | None = None, column: int | None = None) -> None:
        self.problem = " ".join(problem.split())
        self.line = line
        self.column = column
        where = "" if line is None else f"line {line}" + ("" if column is None else f", column {column}") + ": "
        super().__init__(where + self.problem)


def decode_utf8(data: bytes) -> str:
    """``data`` as UTF-8 text; :class:`TextFileError` naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TextFileError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line) from None


def read_bytes(path: Path, *, max_bytes: int = MAX_FILE_BYTES, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file ``path``. ``OSError`` when it cannot be opened;
    :class:`TextFileError` when it is not a regular file or is larger than ``max_bytes``."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TextFileError("not a regular file")
        if info.st_size > max_bytes:
            raise TextFileError(f"larger than {max_bytes} bytes ({info.st_size})")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise TextFileError(f"larger than {max_bytes} bytes")
    return data


def read_text(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (see :func:`read_bytes`, :func:`decode_utf8`)."""
    return decode_utf8(read_bytes(path, max_bytes=max_bytes))


# -- YAML ----------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, narrowed to JSON-compatible documents (see the module docstring)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not allowed", mark)
        if getattr(event, "tag", None) is not None:
            raise yaml.composer.ComposerError(None, None, f"the YAML tag {str(event.tag)[:40]} is not allowed "
                                              "(plain JSON-like values only)", mark)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(None, None, "YAML merge keys (<<) are not allowed",
                                                        key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(None, None, f"mapping keys must be strings, not "
                                                        f"{type(key).__name__}", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key[:60]!r}",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            value = int(super().construct_yaml_int(node))
        except ValueError:  # more digits than Python converts
            value = 10**MAX_INT_DIGITS
        if value.bit_length() > MAX_INT_BITS:  # 0x... with more bits than any decimal JSON number
            raise yaml.constructor.ConstructorError(None, None, "integer too long", node.start_mark)
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if value != value or value in (float("inf"), float("-inf")):
            raise yaml.constructor.ConstructorError(None, None, "NaN and infinity are not JSON numbers",
                                                    node.start_mark)
        return float(value)

    def construct_as_string(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_as_string)


def load_yaml(text: str) -> Any:
    """One YAML document as JSON-compatible data; :class:`TextFileError` (one line, with line and
    column) for a syntax error or anything :class:`_Loader` refuses."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        raise TextFileError(problem, line=mark.line + 1 if mark else None,
                            column=mark.column + 1 if mark else None) from None
    except (yaml.YAMLError, ValueError, TypeError, KeyError) as exc:  # the last: a constructor's own failure
        raise TextFileError(str(exc)) from None
    except RecursionError:
        raise TextFileError(f"nested deeper than {MAX_YAML_DEPTH} levels") from None


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = '"' if any(c in data for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """YAML text of ``data``: keys in the given order, unicode kept readable, no aliases."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2)


# -- writing -------------------------------------------------------------------------------------


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``, looping over short writes; ``OSError`` if none progress."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(f"short write: {len(view)} bytes left unwritten")
        view = view[n:]


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8, ``\\n`` newlines) by writing a temporary file beside it
    and renaming it: a crash never leaves a half-written file, and a symlink planted at the temporary
    name is never followed. Encodes before touching the disk."""
    data = text.encode("utf-8")
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def append_line(path: Path, line: str, *, follow_symlinks: bool = True) -> None:
    """Append ``line`` (ending in ``\\n``) to ``path`` as one write. If the file's last line is torn
    (no final newline, from a crash), a newline comes first so the torn line cannot swallow this one.
    With ``follow_symlinks=False`` a symlink at ``path`` is an ``OSError``, and anything but a regular
    file is refused too."""
    data = line.encode("utf-8")
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | (0 if follow_symlinks else os.O_NOFOLLOW | os.O_NONBLOCK)
    fd = os.open(path, flags, 0o644)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        if info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
            data = b"\n" + data
        write_all(fd, data)
    finally:
        os.close(fd)
