"""Model providers and the registry that turns model ids into :class:`Model` instances."""

from skillforge.models.base import Attempt, Message, Model, ModelRequest, ModelResponse, Usage
from skillforge.models.registry import get_model, register_provider, resolve_model

__all__ = [
    "Attempt",
    "Message",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "Usage",
    "get_model",
    "register_provider",
    "resolve_model",
]
