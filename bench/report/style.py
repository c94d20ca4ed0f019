"""How every plot looks: fonts, and one colour per system for the whole report."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

#: Nine clearly different hues (tab10 without its grey, which marks references) used first, then
#: darker and lighter tones. No black: medians, fronts and error bars are drawn in black.
STRONG = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
          "#17becf")
LIGHT = ("#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#aec7e8", "#ffbb78", "#98df8a",
         "#ff9896", "#c5b0d5", "#9edae5")
#: One style per first stage where several rerankers (one colour each) share a plot.
HATCHES = ("", "//", "..", "xx", "\\\\", "++")
MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", ":", "-.")
REFERENCE_GREY = "#7f7f7f"

RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "bench-report",
}


def color_key(system: str) -> str:
    """The name a colour belongs to: the reranker of `first>>reranker`, else the name itself.

    So `jina-tiny` has one colour behind every first stage and in the profiling plots;
    first stages are told apart by hatch, marker or line style (`FirstStageStyles`).
    """
    return system.partition(">>")[2] or system


def _slot(key: str, size: int) -> int:
    return int(hashlib.md5(key.encode("utf-8")).hexdigest(), 16) % size


class SystemColors:
    """A colour per system, from a hash of its `color_key`, the same in every plot of a report.

    Keys are placed in sorted order on the strong hues first; a key whose slot is taken
    moves to the next free one, so no two keys of one report share a colour (up to 20).
    """

    def __init__(self, names: Iterable[str]) -> None:
        self._colors: dict[str, str] = {}
        used: set[str] = set()
        for key in sorted({color_key(name) for name in names}):
            tier = STRONG if len(used & set(STRONG)) < len(STRONG) else LIGHT
            slot = _slot(key, len(tier))
            for step in range(len(tier)):
                if tier[(slot + step) % len(tier)] not in used:
                    slot = (slot + step) % len(tier)
                    break
            self._colors[key] = tier[slot]
            used.add(tier[slot])

    def __call__(self, name: str) -> str:
        key = color_key(name)
        if key not in self._colors:
            self._colors[key] = STRONG[_slot(key, len(STRONG))]
        return self._colors[key]

    def as_dict(self) -> dict[str, str]:
        return dict(self._colors)


class FirstStageStyles:
    """Hatch, marker and line style per first stage, in sorted order (the first gets plain styles)."""

    def __init__(self, first_stages: Iterable[str]) -> None:
        self.order = sorted(set(first_stages))

    def _index(self, first_stage: str) -> int:
        return self.order.index(first_stage) if first_stage in self.order else 0

    def hatch(self, first_stage: str) -> str:
        return HATCHES[self._index(first_stage) % len(HATCHES)]

    def marker(self, first_stage: str) -> str:
        return MARKERS[self._index(first_stage) % len(MARKERS)]

    def linestyle(self, first_stage: str) -> str:
        return LINESTYLES[self._index(first_stage) % len(LINESTYLES)]
