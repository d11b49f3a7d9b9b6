"""Local GGUF models through llama-cpp-python: ``local:<name>`` ids, by default the embedded
SmolLM2-135M-Instruct.

- :mod:`~skillforge.models.local.model`: :class:`LocalModel`, constrained decoding and logprobs;
- :mod:`~skillforge.models.local.scoring`: confidence read out of the logits;
- :mod:`~skillforge.models.local.prefix`: KV states of static prompt prefixes, reused per call;
- :mod:`~skillforge.models.local.embed`: sentence embeddings from the same weights.
"""

from skillforge.models.local.model import LocalModel

__all__ = ["LocalModel"]
