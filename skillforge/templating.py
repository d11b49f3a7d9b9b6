"""The one Jinja environment: every prompt text skillforge sends lives in ``templates/*.j2``.

A ``SandboxedEnvironment`` with ``StrictUndefined``: a template naming a variable it was not given fails
loudly instead of rendering an empty string. User input is only ever passed in as *data*, never as
template source, so an input containing ``{{ 7*7 }}`` reaches the model verbatim. Template files end
with one newline, which Jinja strips (``keep_trailing_newline=False``), so a prompt ends where its
template's last line does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

_ENV = SandboxedEnvironment(
    loader=FileSystemLoader(TEMPLATE_DIR), undefined=StrictUndefined, autoescape=False,
    keep_trailing_newline=False,
)


def render(name: str, **data: Any) -> str:
    """Render ``templates/<name>.j2`` with ``data``."""
    return _ENV.get_template(f"{name}.j2").render(**data)
