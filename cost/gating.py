"""Power at a frame rate as dynamic + leakage, and the power-gating what-if.

At a frame rate far below what the clock allows, a design computes a frame in a short burst
and then idles: it leaks all the time and switches once per frame, so its power is
``dynamic energy per frame x frame rate + leakage``. A design that holds no state between frames
(feed-forward, constant weights) could instead be switched off between frames; this module
gives that as a labelled WHAT-IF, not a measurement: the design powered for its compute time
per frame and leaking ``off_leakage_fraction`` of its leakage otherwise (header switches or a
power domain with a residual leakage). Not modelled: the switches' own area and drop, the
wake-up time and the energy of charging the domain at every power-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bitwave.core.errors import BitwaveError

DEFAULT_OFF_LEAKAGE_FRACTION = 0.05
WHAT_IF_LABEL = "what-if, not measured"


def off_leakage_fraction(value: object, where: str = "off-state leakage fraction") -> float:
    """A validated off-state leakage fraction: a number in 0..1 (``where`` names it in the
    error; empty when argparse names the flag itself)."""
    try:
        fraction = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        fraction = math.nan
    if isinstance(value, bool) or not 0.0 <= fraction <= 1.0:
        prefix = f"{where}: " if where else ""
        raise BitwaveError(
            f"{prefix}{value!r} is not allowed; allowed a number from 0 to 1 (the share of its "
            "leakage a design gated off between frames keeps)"
        )
    return fraction


@dataclass(frozen=True)
class RatePower:
    """Power at ``frames_per_second``: one frame's switching per frame plus leakage."""

    frames_per_second: float
    dynamic_energy_per_frame_j: float
    leakage_w: float

    @property
    def dynamic_w(self) -> float:
        return self.dynamic_energy_per_frame_j * self.frames_per_second

    @property
    def total_w(self) -> float:
        return self.dynamic_w + self.leakage_w

    def to_json(self) -> dict:
        return {"frames_per_second": self.frames_per_second,
                "dynamic_energy_per_frame_j": self.dynamic_energy_per_frame_j,
                "dynamic_w": self.dynamic_w, "leakage_w": self.leakage_w,
                "total_w": self.total_w}  # fmt: skip


@dataclass(frozen=True)
class GatingWhatIf:
    """The design powered for ``on_s`` per frame (its compute time) and gated off otherwise,
    keeping ``off_leakage_fraction`` of its leakage: a what-if, not a measurement."""

    rate: RatePower
    on_s: float
    off_leakage_fraction: float

    @property
    def duty(self) -> float:
        """The powered share of the time (1: the frames leave no gap to gate)."""
        return min(1.0, self.on_s * self.rate.frames_per_second)

    @property
    def leakage_w(self) -> float:
        f = self.off_leakage_fraction
        return self.rate.leakage_w * (self.duty + f * (1.0 - self.duty))

    @property
    def total_w(self) -> float:
        return self.rate.dynamic_w + self.leakage_w

    def to_json(self) -> dict:
        return {"label": WHAT_IF_LABEL, "offered": True,
                "off_leakage_fraction": self.off_leakage_fraction,
                "on_s_per_frame": self.on_s, "duty": self.duty,
                "dynamic_w": self.rate.dynamic_w, "leakage_w": self.leakage_w,
                "total_w": self.total_w}  # fmt: skip


def gating_json(gating: GatingWhatIf | None, why_not: str) -> dict:
    """The what-if as JSON, or why it is not offered."""
    if gating is not None:
        return gating.to_json()
    return {"label": WHAT_IF_LABEL, "offered": False, "reason": why_not}


def watts(value: float) -> str:
    """A power in W, mW or uW, whichever reads best."""
    for scale, unit in ((1.0, "W"), (1e-3, "mW")):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value / 1e-6:.4g} uW"


def gating_lines(rate: RatePower | None, gating: GatingWhatIf | None, why_not: str) -> list[str]:
    """The text lines of the power at the frame rate and of the what-if (or why there is none)."""
    if rate is None:
        return []
    lines = [
        f"  power at {rate.frames_per_second:g} frames/s  {watts(rate.total_w)} = dynamic "
        f"{watts(rate.dynamic_w)} + leakage {watts(rate.leakage_w)}"
    ]
    if gating is not None:
        lines.append(
            f"  power gating between frames ({WHAT_IF_LABEL}): {watts(gating.total_w)} (on "
            f"{gating.on_s * 1e6:.4g} us per frame = {gating.duty * 100:.3g}% of the time, "
            f"off-state leakage {gating.off_leakage_fraction:g} of {watts(rate.leakage_w)})"
        )
    elif why_not:
        lines.append(f"  power gating between frames ({WHAT_IF_LABEL}): not offered: {why_not}")
    return lines
