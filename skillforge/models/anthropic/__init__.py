"""Claude: ``anthropic:<model>`` ids through the official ``anthropic`` SDK.

- :mod:`~skillforge.models.anthropic.model`: :class:`AnthropicModel`, one Messages API call per request;
- :mod:`~skillforge.models.anthropic.claude`: what each Claude generation accepts, by model name;
- :mod:`~skillforge.models.anthropic.schema`: the JSON the API speaks (schemas, bodies, usage);
- :mod:`~skillforge.models.anthropic.transport`: the SDK clients and the one retry layer;
- :mod:`~skillforge.models.anthropic.batch`: Message Batches at the batch discount, resumable.
"""

from skillforge.models.anthropic.model import AnthropicModel

__all__ = ["AnthropicModel"]
