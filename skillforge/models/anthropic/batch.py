"""Message Batches for :class:`~skillforge.models.anthropic.model.AnthropicModel`: many Messages API requests
at the batch discount (half price), resumable after the process dies.

:meth:`AnthropicBatching.batch_request`, step by step:

1. **Ids.** Each distinct request gets a ``custom_id`` from its content (``sf-`` and 40 hex digits of
   :meth:`~skillforge.models.base.ModelRequest.cache_key`): the same requests built again in a new
   process get the same ids, and a request repeated in one call is sent once.
2. **Submit or resume.** When ``state_path`` holds a batch of this model for exactly these ids, that
   batch is resumed and nothing is submitted. Otherwise the batch is created
   (``POST /v1/messages/batches``; a 400 naming a feature degrades it as for single requests) and its
   id written to ``state_path`` at once, atomically. A state file for other requests is an error
   naming the batch it holds (it may still be running, and billing).
3. **Poll** (``GET /v1/messages/batches/{id}``) until ``processing_status`` is ``ended``, waiting
   ``poll_seconds`` at first and 1.5x longer each time up to ``max_poll_seconds``; each poll has the
   usual transport retries. Past ``max_wait_seconds`` a retryable :class:`ModelAPIError` is raised and
   the state file kept, so a later call resumes the same batch.
4. **Results** (the ``.jsonl`` at ``results_url``, read raw like single responses) are mapped back by
   ``custom_id``, in any order: ``succeeded`` gives a :class:`ModelResponse` with ``batch=True``
   (priced at the discount); ``errored`` gives the API's error type and message; ``expired`` and
   ``canceled`` give their status. A request with no result line counts as ``errored``.
5. The state file is removed once the results are mapped.

API shapes: https://platform.claude.com/docs/en/api/messages/batches,
https://platform.claude.com/docs/en/build-with-claude/batch-processing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic

from skillforge.errors import ConfigurationError, ModelAPIError, ModelRequestRejected
from skillforge.jsonl import StrictModel
from skillforge.models.anthropic.transport import AnthropicTransport
from skillforge.models.base import BatchResult, ModelRequest, ModelResponse
from skillforge.models.http_errors import scrub

log = logging.getLogger("skillforge.models.anthropic.model")

STATE_FORMAT = 1
_SDK_ONLY = ("timeout", "extra_body")


class BatchState(StrictModel):
    """What ``state_path`` holds between submission and collection."""

    format: int = STATE_FORMAT
    batch_id: str
    model_id: str
    submitted_at: str
    #: custom_id -> the structured mode its request was sent in (how to read its answer).
    modes: dict[str, str | None]


def custom_id(request: ModelRequest, model_id: str) -> str:
    """The batch id of ``request``: stable across processes, at most 64 characters of ``[a-z0-9-]``."""
    return "sf-" + request.cache_key(model_id)[:40]


def read_state(path: Path) -> BatchState | None:
    """The batch recorded at ``path``, or ``None`` when there is no readable one."""
    try:
        return BatchState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_state(path: Path, state: BatchState) -> None:
    """Write ``state`` atomically (a crash leaves the old file or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(state.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class AnthropicBatching(AnthropicTransport):
    """The Message Batches half of :class:`~skillforge.models.anthropic.model.AnthropicModel`."""

    # Hooks the model implements (see skillforge.models.anthropic.model).
    def _body(self, request: ModelRequest, mode: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def _mode_for(self, schema: Mapping[str, Any] | None) -> str | None:
        raise NotImplementedError

    def _degrade(self, exc: ModelRequestRejected, mode: str | None, body: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def _check_turns(self, request: ModelRequest) -> None:
        raise NotImplementedError

    def _response(
        self, data: Mapping[str, Any], mode: str | None, request_id: str | None, latency: float, *, batch: bool = False
    ) -> ModelResponse:
        raise NotImplementedError

    async def batch_request(
        self,
        requests: Sequence[ModelRequest],
        *,
        state_path: Path | None = None,
        poll_seconds: float = 10.0,
        max_poll_seconds: float = 120.0,
        max_wait_seconds: float | None = None,
    ) -> list[BatchResult]:
        """Answer ``requests`` through the Message Batches API: one :class:`BatchResult` per request,
        in order (see the module docstring). Raises :class:`ModelAPIError` when the batch cannot be
        submitted or polled, or is still running after ``max_wait_seconds``."""
        started = time.perf_counter()
        unique: dict[str, ModelRequest] = {}
        for r in requests:
            self._check_turns(r)
            unique.setdefault(custom_id(r, self.model_id), r)
        if not unique:
            return []
        polling = (poll_seconds, max_poll_seconds, max_wait_seconds)
        state = self._resumable(state_path, set(unique))
        if state is not None:
            log.info("%s: resuming message batch %s from %s", self.model_id, state.batch_id, state_path)
            try:
                await self._wait_for_end(state.batch_id, *polling)
            except ModelRequestRejected as exc:
                if exc.status != 404:
                    raise
                log.warning("%s: batch %s is gone; submitting anew", self.model_id, state.batch_id)
                state = None
        if state is None:
            state = await self._submit(unique)
            if state_path is not None:
                write_state(state_path, state)
            await self._wait_for_end(state.batch_id, *polling)
        lines = await self._results(state.batch_id)
        latency = time.perf_counter() - started
        by_id = {cid: self._result(cid, lines.get(cid), state.modes.get(cid), latency) for cid in unique}
        if state_path is not None:
            state_path.unlink(missing_ok=True)
        return [by_id[custom_id(r, self.model_id)] for r in requests]

    def _resumable(self, state_path: Path | None, ids: set[str]) -> BatchState | None:
        if state_path is None or not state_path.exists():
            return None
        state = read_state(state_path)
        if state is None:
            raise ConfigurationError(f"{state_path} is not a message batch state file; move it away")
        if state.model_id != self.model_id or set(state.modes) != ids:
            raise ConfigurationError(
                f"{state_path} holds message batch {state.batch_id} of {state.model_id} for other requests "
                "(it may still be running); collect or cancel it, then delete the file")
        return state

    async def _submit(self, unique: Mapping[str, ModelRequest]) -> BatchState:
        """Create the batch; a 400 naming a feature the server refuses degrades it and resubmits."""
        while True:
            modes = {cid: self._mode_for(r.output_schema) for cid, r in unique.items()}
            bodies = {cid: self._body(r, modes[cid]) for cid, r in unique.items()}
            items = [{"custom_id": cid, "params": _params(body)} for cid, body in bodies.items()]
            try:
                data = await self._batch_json("create", items)
            except ModelRequestRejected as exc:
                first = next(iter(bodies))
                if not self._degrade(exc, modes[first], bodies[first]):
                    raise
                continue
            batch_id = data.get("id")
            if not isinstance(batch_id, str):
                raise self._error("the batch API answered without a batch id", request_id=None)
            log.info("%s: submitted message batch %s (%d requests)", self.model_id, batch_id, len(items))
            return BatchState(batch_id=batch_id, model_id=self.model_id, modes=modes,
                              submitted_at=datetime.now(UTC).isoformat(timespec="seconds"))

    async def _batch_json(self, what: str, arg: Any) -> dict[str, Any]:
        async def call(client: anthropic.AsyncAnthropic) -> dict[str, Any]:
            batches = client.messages.batches.with_raw_response
            raw = await (batches.create(requests=arg) if what == "create" else batches.retrieve(arg))
            return (await self._json(raw))[0]

        return await self._call(call)

    async def _wait_for_end(self, batch_id: str, poll: float, max_poll: float, max_wait: float | None) -> None:
        waited, delay = 0.0, max(0.0, poll)
        while True:
            data = await self._batch_json("retrieve", batch_id)
            status = data.get("processing_status")
            if status == "ended":
                return
            if max_wait is not None and waited + delay > max_wait:
                raise ModelAPIError(
                    f"message batch {batch_id} is still {status} after {waited:g}s of polling; "
                    "call again with the same state file to resume it", model_id=self.model_id, retryable=True)
            log.debug("%s: batch %s is %s; next poll in %gs", self.model_id, batch_id, status, delay)
            await self._sleep(delay)
            waited += delay
            delay = min(max(max_poll, poll), delay * 1.5)

    async def _results(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """custom_id -> its ``result`` object, from the raw ``.jsonl`` (unknown lines skipped)."""
        async def call(client: anthropic.AsyncAnthropic) -> str:
            raw = await client.messages.batches.with_raw_response.results(batch_id)
            return await raw.text()

        out: dict[str, dict[str, Any]] = {}
        for line in (await self._call(call)).splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("custom_id"), str) and isinstance(row.get("result"), dict):
                out[row["custom_id"]] = row["result"]
        return out

    def _result(self, cid: str, result: Mapping[str, Any] | None, mode: str | None, latency: float) -> BatchResult:
        kind = result.get("type") if result is not None else None
        if result is not None and kind == "succeeded" and isinstance(result.get("message"), dict):
            response = self._response(result["message"], mode, None, latency, batch=True)
            return BatchResult(custom_id=cid, status="succeeded", response=response)
        if kind in ("expired", "canceled"):
            return BatchResult(custom_id=cid, status=kind, error_type=kind,
                               error=f"the request was {kind} before it was processed")
        error_type, message = "missing_result", "the batch results have no line for this request"
        if result is not None:
            outer: Mapping[str, Any] = result["error"] if isinstance(result.get("error"), dict) else {}
            error: Mapping[str, Any] = outer["error"] if isinstance(outer.get("error"), dict) else outer
            error_type = str(error.get("type") or kind or "unknown_result")
            message = str(error.get("message") or f"result of type {kind!r}")
        return BatchResult(custom_id=cid, status="errored", error_type=scrub(error_type, self._secrets(), limit=100),
                           error=scrub(message, self._secrets()))


def _params(body: Mapping[str, Any]) -> dict[str, Any]:
    """A batch request's ``params``: the body of ``messages.create`` without the SDK-only arguments,
    ``extra_body`` merged in."""
    params = {k: v for k, v in body.items() if k not in _SDK_ONLY}
    params.update(body.get("extra_body", {}))
    return params
