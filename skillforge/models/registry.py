"""Model ids (``provider:name``) to :class:`Model` instances.

Providers are looked up by the prefix before the first colon. Built in: ``local`` (llama.cpp),
``anthropic`` and ``openai`` (any OpenAI-compatible server; needs the ``openai`` extra). Register more
with :func:`register_provider`.
"""

from __future__ import annotations

from collections.abc import Callable

from skillforge.errors import ConfigurationError
from skillforge.models.base import Model, Role

ProviderFactory = Callable[[str], Model]

_PROVIDERS: dict[str, ProviderFactory] = {}


def register_provider(prefix: str, factory: ProviderFactory) -> None:
    """Make ``get_model("<prefix>:<name>")`` call ``factory("<name>")``."""
    _PROVIDERS[prefix] = factory


def _local(name: str) -> Model:
    from skillforge.models.local.model import LocalModel

    return LocalModel.named(name)


def _anthropic(name: str) -> Model:
    from skillforge.models.anthropic.model import AnthropicModel

    return AnthropicModel(name)


def _openai(name: str) -> Model:
    # Imported only when asked for: the openai SDK is an optional extra (the import names it when missing).
    from skillforge.models.openai_compat.model import OpenAIModel

    return OpenAIModel(name)


register_provider("local", _local)
register_provider("anthropic", _anthropic)
register_provider("openai", _openai)


def get_model(model_id: str) -> Model:
    """The provider instance for ``model_id``, e.g. ``local:smollm2-135m`` or
    ``anthropic:claude-haiku-4-5``. Raises :class:`ConfigurationError` for an unknown id."""
    prefix, sep, name = model_id.partition(":")
    if not sep or not name:
        raise ConfigurationError(
            f"model id {model_id!r} must look like 'provider:name' (providers: {', '.join(sorted(_PROVIDERS))})"
        )
    factory = _PROVIDERS.get(prefix)
    if factory is None:
        raise ConfigurationError(
            f"unknown model provider {prefix!r} in {model_id!r} (known: {', '.join(sorted(_PROVIDERS))})"
        )
    return factory(name)


def resolve_model(model: str | Model | None, default: str, *, role: Role | None = None) -> Model:
    """A Model from an instance, an id, or ``None`` (then ``default``, an id); with ``role``, as that
    role uses it (:meth:`Model.for_role`: e.g. Claude's per-role effort)."""
    resolved = model if isinstance(model, Model) else get_model(model or default)
    return resolved.for_role(role) if role is not None else resolved
