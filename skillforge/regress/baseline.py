"""Comparing a regression run with a baseline run (``skillforge test --baseline``)."""

from __future__ import annotations

from pathlib import Path

from skillforge.errors import ConfigurationError
from skillforge.regress.results import DEFAULT_TOLERANCE, RATE_EPSILON, SkillDelta, SkillResult, SuiteReport


def load_report(path: str | Path) -> SuiteReport:
    """Read a ``--json`` result (e.g. for ``--baseline``). Raises :class:`ConfigurationError`."""
    try:
        return SuiteReport.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not a skillforge test --json result: {exc}") from None


def compare_baseline(
    report: SuiteReport, baseline: SuiteReport, *, tolerance: float = DEFAULT_TOLERANCE
) -> list[SkillDelta]:
    """Per-skill changes against ``baseline`` (matched by name), by :func:`skill_delta`. Skills new in
    this run or missing from it are noted, not failed."""
    before = {s.name: s for s in baseline.skills}
    deltas = [skill_delta(now, before.pop(now.name, None), tolerance=tolerance) for now in report.skills]
    for old in before.values():
        deltas.append(SkillDelta(name=old.name, pass_rate_before=old.pass_rate, note="not in this run"))
    return deltas


def skill_delta(now: SkillResult, old: SkillResult | None, *, tolerance: float = DEFAULT_TOLERANCE) -> SkillDelta:
    """One skill against its baseline result (``None``: not in the baseline). A pass-rate drop of more
    than ``tolerance`` fails; cost (per pass over the cases, so runs with different ``--repeat``
    compare) is reported, not gated."""
    if old is None:
        return SkillDelta(name=now.name, pass_rate_after=now.pass_rate, note="not in the baseline")
    if old.error is not None or now.error is not None:
        return SkillDelta(name=now.name, ok=now.error is None, note="not compared: a run ended with an error")
    drop = old.pass_rate - now.pass_rate
    failed = drop > tolerance + RATE_EPSILON
    c_old, c_now = _per_pass(old), _per_pass(now)
    return SkillDelta(
        name=now.name, pass_rate_before=old.pass_rate, pass_rate_after=now.pass_rate,
        pass_rate_delta=round(-drop, 4), cost_before=c_old, cost_after=c_now,
        cost_delta=None if c_old is None or c_now is None else round(c_now - c_old, 8),
        ok=not failed,
        note=f"pass rate dropped by {drop:.3f} (tolerance {tolerance:g})" if failed else None,
    )


def _per_pass(result: SkillResult) -> float | None:
    return None if result.cost_usd is None else round(result.cost_usd / result.repeat, 8)
