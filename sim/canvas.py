"""What every figure module shares: a footer line under the axes, and saving a figure
atomically (a temporary file renamed into place, so a reader never sees half a PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def footer_text(fig: plt.Figure, text: str) -> None:
    fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))  # room for the footer
    fig.text(0.01, 0.005, text, fontsize=7, color="0.4", ha="left", va="bottom")


def save(fig: plt.Figure, target: Path, fmt: str) -> Path:
    tmp = target.with_name(f".{target.stem}.tmp-{os.getpid()}.{fmt}")
    try:
        fig.savefig(tmp, dpi=120, format=fmt)
        tmp.replace(target)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return target
