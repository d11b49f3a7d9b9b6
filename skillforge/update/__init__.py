"""Improving a compiled skill from production: fold its teacher-verified escalations back in as demos,
calibration and regression cases, recompile with its stored options, and write it only when its
regression cases do not get worse (``skillforge update``); and moving a skill to new models without
recompiling it (``skillforge retarget``)."""

from skillforge.update.folding import FOLDED, FoldedRecord, FoldPlan, escalation_key, folded_keys, plan_fold
from skillforge.update.retarget import RetargetReport, aretarget_skill, retarget_skill
from skillforge.update.update import (
    DEFAULT_HOLDOUT,
    DEFAULT_TOLERANCE,
    RegressionScore,
    Snapshot,
    UpdateReport,
    aupdate_skill,
    file_diff,
    gate,
    update_skill,
    with_escalation_sources,
)

__all__ = [
    "DEFAULT_HOLDOUT",
    "DEFAULT_TOLERANCE",
    "FOLDED",
    "FoldPlan",
    "FoldedRecord",
    "RegressionScore",
    "RetargetReport",
    "Snapshot",
    "UpdateReport",
    "aretarget_skill",
    "aupdate_skill",
    "escalation_key",
    "file_diff",
    "folded_keys",
    "gate",
    "plan_fold",
    "retarget_skill",
    "update_skill",
    "with_escalation_sources",
]
