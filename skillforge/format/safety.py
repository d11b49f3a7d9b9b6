"""What a skill directory may make skillforge read or write.

Skills are pulled from other people's repositories, so a skill directory is treated as untrusted:

- a file is read only if it resolves inside the skill directory (a symlink to ``~/.ssh/id_rsa``
  named ``instructions.md`` is refused, not sent to a model), only if it is a regular file (a FIFO
  would block forever) and only up to a size cap (:func:`read_skill_file`);
- any symlink in the skill directory or its ``cassettes/`` that points outside it makes the skill
  malformed (:func:`check_links`), whatever its name;
- a destination to write a skill to is checked before anything is spent (:func:`check_destination`).
"""

from __future__ import annotations

import os
from pathlib import Path

from skillforge.errors import ConfigurationError, SkillFormatError
from skillforge.format.manifest import DEMOS, INSTRUCTIONS, MANIFEST, TESTS
from skillforge.textfiles import TextFileError, read_text

#: Sub-directory of a skill whose entries :func:`check_links` checks too (the regression recordings).
CHECKED_SUBDIRS = ("cassettes",)


def _real(path: Path, name: str) -> Path:
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise SkillFormatError(f"cannot resolve the path: {exc}", file=name) from None


def inside(root: Path, path: Path, name: str) -> bool:
    """Whether ``path`` (named ``name`` in errors) resolves to ``root`` or somewhere below it."""
    base, real = _real(root, name), _real(path, name)
    return real == base or base in real.parents


def read_skill_file(root: Path, name: str) -> str:
    """The UTF-8 text of ``root/name``, a regular file inside the skill directory ``root``. Raises
    :class:`SkillFormatError` naming ``name`` (and the line of a byte that is not UTF-8)."""
    path = root / name
    if not inside(root, path, name):
        raise SkillFormatError("is a symbolic link to a file outside the skill directory: refusing to read it",
                               file=name)
    try:
        return read_text(path)
    except FileNotFoundError:
        raise SkillFormatError("file is missing", file=name) from None
    except OSError as exc:
        raise SkillFormatError(f"cannot read: {exc.strerror or exc}", file=name) from None
    except TextFileError as exc:
        raise SkillFormatError(exc.problem, file=name, line=exc.line) from None


def check_links(root: Path) -> None:
    """Raise :class:`SkillFormatError` for the first symlink in ``root`` (or its ``cassettes/``) that
    points outside ``root``."""
    dirs = [(root, "")] + [(root / d, f"{d}/") for d in CHECKED_SUBDIRS if (root / d).is_dir()]
    for directory, prefix in dirs:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise SkillFormatError(f"cannot list the directory: {exc.strerror or exc}", file=prefix or ".") from None
        for entry in entries:
            name = prefix + entry.name
            if entry.is_symlink() and not inside(root, Path(entry.path), name):
                raise SkillFormatError("is a symbolic link to outside the skill directory", file=name)


def check_destination(path: Path) -> None:
    """Raise :class:`ConfigurationError` unless a skill can be written to directory ``path``: it is a
    writable directory, or does not exist and its nearest existing parent is one. Called before a
    compilation spends anything on models."""
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ConfigurationError(f"cannot write a skill to {path}: it exists and is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigurationError(f"cannot write a skill to {path}: the directory is not writable")
        for name in (MANIFEST, INSTRUCTIONS, DEMOS, TESTS):
            target = path / name
            if target.is_dir() and not target.is_symlink():
                raise ConfigurationError(f"cannot write a skill to {path}: its {name} is a directory")
        return
    check_creatable(path, "a skill")


def check_creatable(path: Path, what: str) -> None:
    """Raise :class:`ConfigurationError` unless ``path`` can be created: its nearest existing ancestor
    is a writable directory. ``what`` names the thing in the message ("a skill", "the report")."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigurationError(f"cannot write {what} to {path}: {parent} is not a writable directory")
