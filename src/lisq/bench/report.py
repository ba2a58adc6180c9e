"""Tables (markdown, mean +- std over seeds) and matplotlib plots from results.csv."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from collections import defaultdict
from pathlib import Path

from lisq.bench.config import BenchConfig
from lisq.models.checkpoint import atomic_write


def read_rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def aggregate(rows: list[dict]) -> dict[tuple, list[float]]:
    """(generator, student, setting) -> top-1 per seed, in percent."""
    cells: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        setting = f"{r['method']} W{r['w_bits']}A{r['a_bits']}"
        cells[(r["generator"], r["student"], setting)].append(100 * float(r["top1"]))
    return cells


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def markdown_table(rows: list[dict], cfg: BenchConfig) -> str:
    cells = aggregate(rows)
    gens = [g.key for g in cfg.generators]
    settings = list(dict.fromkeys(f"{s.method} W{s.w_bits}A{s.a_bits}" for s in cfg.settings))
    fp = {r["student"]: 100 * float(r["fp_top1"]) for r in rows}
    lines = []
    for student in cfg.students:
        tag = "held-out" if student.held_out else "in-pool"
        lines.append(f"\n### {student.name} ({tag}, full precision {fp.get(student.name, float('nan')):.2f})\n")
        lines.append("| generator | " + " | ".join(settings) + " |")
        lines.append("|---" * (len(settings) + 1) + "|")
        for g in gens:
            lines.append(f"| {g} | " + " | ".join(fmt(cells.get((g, student.name, s), [])) for s in settings) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], cfg: BenchConfig, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = aggregate(rows)
    gens = [g.key for g in cfg.generators]
    settings = list(dict.fromkeys(f"{s.method} W{s.w_bits}A{s.a_bits}" for s in cfg.settings))
    students = [s.name for s in cfg.students]
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.8), squeeze=False)
    width = 0.8 / max(1, len(gens))
    for ax, setting in zip(axes[0], settings, strict=True):
        for gi, g in enumerate(gens):
            means = [statistics.mean(cells.get((g, st, setting), [float("nan")])) for st in students]
            ax.bar([i + gi * width for i in range(len(students))], means, width, label=g)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(students))], students, rotation=30, ha="right", fontsize=7)
        ax.set_title(setting, fontsize=9)
        ax.set_ylabel("test top-1 (%)")
        finite = [v for v in (statistics.mean(x) for x in cells.values()) if v == v]
        if finite:
            ax.set_ylim(max(0, min(finite) - 5), 100)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    paths = [out / "accuracy.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)

    synth_log = out / "synthesis.jsonl"
    if synth_log.is_file():
        cost: dict[str, list[float]] = defaultdict(list)
        for line in synth_log.read_text().splitlines():
            rec = json.loads(line)
            cost[rec["generator"]].append(rec["seconds"])
        fig, ax = plt.subplots(figsize=(5, 4))
        for g in gens:
            accs = [statistics.mean(v) for (gg, _, _), v in cells.items() if gg == g]
            if accs:
                ax.scatter(statistics.mean(cost.get(g, [0.0])), statistics.mean(accs), label=g)
        ax.set_xlabel("synthesis seconds (1 dataset)")
        ax.set_ylabel("mean quantized top-1 over cells (%)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(out / "cost_vs_accuracy.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def copy_grids(out: Path) -> None:
    grids = out / "grids"
    for grid in sorted((out / "data").glob("*/grid.png")) if (out / "data").is_dir() else []:
        grids.mkdir(exist_ok=True)
        shutil.copyfile(grid, grids / f"{grid.parent.name}.png")


def write_report(out: Path, cfg: BenchConfig) -> None:
    rows = read_rows(out) if (out / "results.csv").is_file() else []
    text = f"# lisq bench: {cfg.name}\n\nTest top-1 (%) on the real test split, mean ± std over seeds.\n" + markdown_table(rows, cfg)
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(text))
    if rows:
        plot(rows, cfg, out)
    copy_grids(out)
