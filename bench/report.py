"""What every experiment writes: one CSV, one PNG, summary lines and a progress line.

Invariants: every summary line carries a unit and, when the experiment measured a
baseline in the same run, the ratio to it (`measure(...)`). Plots use matplotlib's Agg
backend (no display); without matplotlib the CSV and summary are still written and the
PNG is reported as skipped, so the pure experiments run on a bare CI image.
"""
from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass, field


def have_matplotlib() -> bool:
    import importlib.util
    return importlib.util.find_spec("matplotlib") is not None


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed."""
    if not have_matplotlib():
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def fmt(value: float, unit: str) -> str:
    """A number with its unit, at a precision that suits its size."""
    if value == int(value) or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


@dataclass
class Result:
    """The output of one experiment run: files written and summary lines."""
    name: str
    out_dir: str
    lines: list[str] = field(default_factory=list)
    csv_path: str = ""
    png_path: str = ""
    notes: list[str] = field(default_factory=list)

    def measure(self, label: str, value: float, unit: str, baseline: float | None = None,
                baseline_label: str = "") -> str:
        """Record `label: value unit (ratio x baseline_label = baseline unit)`."""
        line = f"{label}: {fmt(value, unit)}"
        if baseline is not None:
            ratio = value / baseline if baseline else float("inf")
            shown = f"{ratio:.3f}" if ratio < 100 else f"{ratio:,.0f}"
            line += f"  ({shown}x {baseline_label} {fmt(baseline, unit)})"
        self.lines.append(line)
        return line

    def note(self, text: str) -> None:
        self.notes.append(text)

    def write_csv(self, rows: list[dict]) -> str:
        os.makedirs(self.out_dir, exist_ok=True)
        self.csv_path = os.path.join(self.out_dir, f"{self.name}.csv")
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        with open(self.csv_path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return self.csv_path

    def save_png(self, fig, plt) -> str:
        os.makedirs(self.out_dir, exist_ok=True)
        self.png_path = os.path.join(self.out_dir, f"{self.name}.png")
        fig.tight_layout()
        fig.savefig(self.png_path, dpi=90)
        plt.close(fig)
        return self.png_path

    def text(self) -> str:
        head = f"== {self.name} =="
        files = [f"csv: {self.csv_path}"] + \
            [f"png: {self.png_path}" if self.png_path else "png: skipped (matplotlib missing)"]
        return "\n".join([head, *self.notes, *self.lines, *files]) + "\n"


class Progress:
    """A one-line progress indicator on stderr: `label [####....] 3/8 12.1 s`."""

    def __init__(self, label: str, total: int, stream=None):
        self.label, self.total = label, max(total, 1)
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.done = 0
        self.last_draw = 0.0

    def step(self, what: str = "") -> None:
        self.done += 1
        width = 20
        filled = width * self.done // self.total
        now = time.perf_counter()
        if self.done < self.total and now - self.last_draw < 0.2:
            return          # a redraw per step would flood a log file
        self.last_draw = now
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.perf_counter() - self.start
        end = "\n" if self.done >= self.total else ""
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:.1f} s "
                          f"{what:<30}{end}")
        self.stream.flush()
