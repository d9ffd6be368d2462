"""Explainable risk scores: 0-100 per host and for the network, with their factors.

Every score is the exact sum of its factors' points (see :mod:`appliance.risk.score`),
so a user can see why a host scores what it does. ``Service.risk`` is
:class:`appliance.risk.service.RiskService`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """One reason for a score: a stable name, its points, and an explanation (en, vi)."""

    name: str
    points: int
    detail_en: str
    detail_vi: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "points": self.points, "detail_en": self.detail_en,
                "detail_vi": self.detail_vi}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A score of 0-100 and the factors whose points add up to it exactly."""

    score: int
    factors: list[RiskFactor] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"score": self.score, "factors": [f.as_json() for f in self.factors]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RiskScore:
        return cls(int(data["score"]), [RiskFactor(**f) for f in data.get("factors", [])])


#: Bands for display: a score at or above the threshold gets the label.
BANDS = ((75, "critical", "nghiêm trọng"), (50, "high", "cao"), (25, "medium", "trung bình"),
         (0, "low", "thấp"))  # fmt: skip


def band(score: int) -> tuple[str, str]:
    """(en, vi) label of a score."""
    for threshold, en, vi in BANDS:
        if score >= threshold:
            return en, vi
    return "low", "thấp"
