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
        full = f"full precision {fp[student.name]:.2f}" if student.name in fp else "no cell yet"
        lines.append(f"\n### {student.name} ({tag}, {full})\n")
        lines.append("| generator | " + " | ".join(settings) + " |")
        lines.append("|---" * (len(settings) + 1) + "|")
        for g in gens:
            lines.append(f"| {g} | " + " | ".join(fmt(cells.get((g, student.name, s), [])) for s in settings) + " |")
    return "\n".join(lines) + "\n"


QUALITY_METRICS = (("fidelity", "fidelity", 1), ("bn_distance", "BN distance", -1), ("diversity", "diversity", 1),
                   ("frechet", "Frechet", -1))  # (key, column, sign: +1 when higher should mean better data)


def synth_records(out: Path) -> list[dict]:
    """The bench's synthesis.jsonl: one record (generator, seed, seconds, quality) per dataset; [] if none."""
    log = out / "synthesis.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def read_quality(out: Path) -> dict[str, dict[str, float]]:
    """generator -> SPEC section-10 metric -> mean over seeds and judges, from synthesis.jsonl."""
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in synth_records(out):
        for judge in (rec.get("quality") or {}).get("judges", {}).values():
            for key, _, _ in QUALITY_METRICS:
                value = judge.get(key)
                value = value.get("overall") if isinstance(value, dict) else value
                if value is not None:
                    per[rec["generator"]][key].append(float(value))
    return {g: {k: statistics.mean(v) for k, v in m.items()} for g, m in per.items()}


def read_seconds(out: Path) -> dict[str, float]:
    """generator -> mean synthesis seconds of one dataset, from synthesis.jsonl."""
    per: dict[str, list[float]] = defaultdict(list)
    for rec in synth_records(out):
        per[rec["generator"]].append(float(rec["seconds"]))
    return {g: statistics.mean(v) for g, v in per.items()}


def spearman(xs: list[float], ys: list[float]) -> float:
    """Rank correlation (average ranks for ties); nan with fewer than 3 points or a constant side."""
    import numpy as np

    if len(xs) < 3:
        return float("nan")

    def ranks(v):
        v = np.asarray(v, dtype=float)
        order = v.argsort()
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for value in np.unique(v):
            r[v == value] = r[v == value].mean()
        return r

    rx, ry = ranks(xs), ranks(ys)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def quality_table(rows: list[dict], cfg: BenchConfig, quality: dict[str, dict[str, float]]) -> str:
    """Section-10 metrics beside mean accuracy per setting, and how well each metric ranks the generators."""
    gens = [g.key for g in cfg.generators if g.key in quality]
    if not gens:
        return ""
    cells = aggregate(rows)
    settings = list(dict.fromkeys(f"{s.method} W{s.w_bits}A{s.a_bits}" for s in cfg.settings))
    acc = {(g, s): [v for (gg, _, ss), vals in cells.items() if gg == g and ss == s for v in vals]
           for g in gens for s in settings}
    lines = ["\n## Data quality (SPEC section 10, mean over judges and seeds) vs accuracy (mean over students, seeds)\n",
             "| generator | " + " | ".join(c for _, c, _ in QUALITY_METRICS) + " | " + " | ".join(settings) + " |",
             "|---" * (1 + len(QUALITY_METRICS) + len(settings)) + "|"]
    for g in gens:
        q = " | ".join(f"{quality[g].get(k, float('nan')):.3f}" for k, _, _ in QUALITY_METRICS)
        a = " | ".join(f"{statistics.mean(acc[g, s]):.2f}" if acc[g, s] else "-" for s in settings)
        lines.append(f"| {g} | {q} | {a} |")
    lines += ["\nSpearman rank correlation between each metric (signed so that + means 'better data, higher accuracy') "
              f"and mean accuracy, over these {len(gens)} generators:\n",
              "| setting | " + " | ".join(c for _, c, _ in QUALITY_METRICS) + " |",
              "|---" * (1 + len(QUALITY_METRICS)) + "|"]
    for s in settings:
        have = [g for g in gens if acc[g, s]]
        corr = []
        for key, _, sign in QUALITY_METRICS:
            pts = [(sign * quality[g][key], statistics.mean(acc[g, s])) for g in have if key in quality[g]]
            corr.append(spearman([p[0] for p in pts], [p[1] for p in pts]))
        lines.append(f"| {s} | " + " | ".join("-" if c != c else f"{c:+.2f}" for c in corr) + " |")
    return "\n".join(lines) + "\n"


def pooled_quality_table(outs: list[Path]) -> str:
    """Every dataset of several results directories (e.g. all ablation recipes) in one table: section-10 metrics
    beside top-1 per student and setting (mean over seeds), then how well each metric ranks all of them.
    A generator label that several recipes share (their common baseline, one dataset per seed in a shared
    data_dir) counts once, from the recipe that ran it at the most seeds; labels whose data came out identical
    (e.g. a two-teacher school with k = 2 draws both teachers whatever the sampler) are merged into one row."""
    data: dict[str, dict] = {}
    for out in outs:
        quality, cells = read_quality(out), aggregate(read_rows(out) if (out / "results.csv").is_file() else [])
        seconds = read_seconds(out)
        for g in quality:
            acc = {(student, setting): values for (gg, student, setting), values in cells.items() if gg == g}
            seeds = max((len(v) for v in acc.values()), default=0)
            entry = data.setdefault(g, {"recipes": [], "seeds": -1})
            entry["recipes"].append(out.name)
            if seeds > entry["seeds"]:
                entry.update(seeds=seeds, quality=quality[g], seconds=seconds.get(g, float("nan")),
                             acc={k: statistics.mean(v) for k, v in acc.items()})
    merged: dict[tuple, dict] = {}
    for g, e in data.items():
        sig = (e["seeds"], tuple(sorted((k, round(v, 6)) for k, v in e["quality"].items())),
               tuple(sorted((k, round(v, 4)) for k, v in e["acc"].items())))
        if sig in merged:
            merged[sig]["names"].append(g)
            merged[sig]["recipes"] += [r for r in e["recipes"] if r not in merged[sig]["recipes"]]
        else:
            merged[sig] = e | {"names": [g], "recipes": list(e["recipes"])}
    data = {" = ".join(e["names"]): e for e in merged.values()}
    cols = sorted({k for e in data.values() for k in e["acc"]}, key=lambda k: (k[1], k[0]))
    if not data or not cols:
        return ""
    settings = list(dict.fromkeys(s for _, s in cols))
    lines = ["| dataset | recipes | seeds | synthesis s | " + " | ".join(c for _, c, _ in QUALITY_METRICS) + " | "
             + " | ".join(f"{st} {s}" for st, s in cols) + " | " + " | ".join(f"mean {s}" for s in settings) + " |",
             "|---" * (4 + len(QUALITY_METRICS) + len(cols) + len(settings)) + "|"]

    def mean_acc(e, setting):
        values = [v for (_, s), v in e["acc"].items() if s == setting]
        return statistics.mean(values) if values else float("nan")

    for g, e in data.items():
        q = " | ".join(f"{e['quality'].get(k, float('nan')):.3f}" for k, _, _ in QUALITY_METRICS)
        a = " | ".join(f"{e['acc'][c]:.2f}" if c in e["acc"] else "-" for c in cols)
        m = " | ".join(f"{mean_acc(e, s):.2f}" for s in settings)
        lines.append(f"| {g} | {', '.join(e['recipes'])} | {e['seeds']} | {e['seconds']:.0f} | {q} | {a} | {m} |")
    lines += [f"\nSpearman rank correlation (signed: + means 'better data, higher accuracy') over these {len(data)} "
              "datasets:\n", "| top-1 | " + " | ".join(c for _, c, _ in QUALITY_METRICS) + " |",
              "|---" * (1 + len(QUALITY_METRICS)) + "|"]
    targets = [(f"{st} {s}", lambda e, c=(st, s): e["acc"].get(c, float("nan"))) for st, s in cols]
    targets += [(f"mean {s}", lambda e, s=s: mean_acc(e, s)) for s in settings]
    for name, get in targets:
        corr = []
        for key, _, sign in QUALITY_METRICS:
            pts = [(sign * e["quality"][key], get(e)) for e in data.values() if key in e["quality"] and get(e) == get(e)]
            corr.append(spearman([p[0] for p in pts], [p[1] for p in pts]))
        lines.append(f"| {name} | " + " | ".join("-" if c != c else f"{c:+.2f}" for c in corr) + " |")
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

    if (out / "synthesis.jsonl").is_file():
        cost = read_seconds(out)
        fig, ax = plt.subplots(figsize=(5, 4))
        for g in gens:
            accs = [statistics.mean(v) for (gg, _, _), v in cells.items() if gg == g]
            if accs:
                ax.scatter(cost.get(g, 0.0), statistics.mean(accs), label=g)
        ax.set_xlabel("synthesis seconds (1 dataset)")
        ax.set_ylabel("mean quantized top-1 over cells (%)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(out / "cost_vs_accuracy.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def copy_grids(out: Path, cfg: BenchConfig) -> None:
    grids = out / "grids"
    data = Path(cfg.data_dir) if getattr(cfg, "data_dir", None) else out / "data"
    keys = {g.key for g in cfg.generators}
    for grid in sorted(data.glob("*/grid.png")) if data.is_dir() else []:
        if grid.parent.name.rsplit("-s", 1)[0] not in keys:
            continue
        grids.mkdir(exist_ok=True)
        shutil.copyfile(grid, grids / f"{grid.parent.name}.png")


def write_report(out: Path, cfg: BenchConfig) -> None:
    rows = read_rows(out) if (out / "results.csv").is_file() else []
    text = f"# lisq bench: {cfg.name}\n\nTest top-1 (%) on the real test split, mean ± std over seeds.\n" + markdown_table(rows, cfg)
    text += quality_table(rows, cfg, read_quality(out))
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(text))
    if rows:
        plot(rows, cfg, out)
    copy_grids(out, cfg)
