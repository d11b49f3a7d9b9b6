"""OpenAI-compatible chat servers (vLLM, SGLang, Ollama, llama.cpp's server, the OpenAI API):
``openai:<model>`` ids through the official ``openai`` SDK.

- :mod:`~skillforge.models.openai_compat.model`: :class:`OpenAIModel`;
- :mod:`~skillforge.models.openai_compat.body`: reading a completion body without trusting the server.
"""

from skillforge.models.openai_compat.model import OpenAIModel

__all__ = ["OpenAIModel"]
