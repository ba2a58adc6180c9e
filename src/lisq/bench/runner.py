"""Plan and run the benchmark cells; every finished cell and dataset is kept and never recomputed."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import time
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from lisq.bench.config import BenchConfig, GeneratorSpec, Setting, Student
from lisq.errors import LisqError
from lisq.models.checkpoint import atomic_write
from lisq.runtime import usable_cpus

COLUMNS = ["generator", "sampler", "student", "held_out", "method", "w_bits", "a_bits", "seed", "top1", "fp_top1", "seconds",
           "top5", "agreement", "threads"]
# top5, agreement (top-1 agreement with the float model) and threads (torch threads of the worker: the same bytes
# need the same count, W2/W4 cells move by up to ~1 pt with another): rows of older benches have none


@dataclass(frozen=True)
class Cell:
    generator: GeneratorSpec
    student: Student
    setting: Setting
    seed: int

    @property
    def key(self) -> tuple:
        s = self.setting
        return (self.generator.key, self.student.name, s.method, str(s.w_bits), str(s.a_bits), str(self.seed))


def plan(cfg: BenchConfig) -> list[Cell]:
    """All cells: headline settings for every seed first (seed by seed), then the other settings with the
    first seed only, so an interrupted run has the seed-averaged headline table before the extras. A recipe
    with no headline setting runs every setting for every seed, once."""
    any_headline = any(s.headline for s in cfg.settings)
    cells = []
    for seed in cfg.seeds:
        for gen in cfg.generators:
            for setting in cfg.settings:
                if any_headline and not setting.headline:
                    continue
                for student in cfg.students:
                    cells.append(Cell(gen, student, setting, seed))
    for gen in cfg.generators if any_headline else ():
        for setting in cfg.settings:
            if setting.headline:
                continue
            for student in cfg.students:
                cells.append(Cell(gen, student, setting, cfg.seeds[0]))
    return cells


class ResultsTable:
    """results.csv, rewritten atomically after every cell so a kill never loses finished rows."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []
        if path.is_file():
            with open(path, newline="") as f:
                self.rows = list(csv.DictReader(f))
        self.done = {self._key(r) for r in self.rows}

    @staticmethod
    def _key(r: dict) -> tuple:
        return (r["generator"], r["student"], r["method"], str(r["w_bits"]), str(r["a_bits"]), str(r["seed"]))

    def add(self, row: dict, order: dict[tuple, int] | None = None) -> None:
        """Record one finished cell; with `order` (plan index per key) rows stay in plan order."""
        self.rows.append({k: str(row.get(k, "")) for k in COLUMNS})
        self.done.add(self._key(row))
        if order is not None:
            self.rows.sort(key=lambda r: order.get(self._key(r), len(order)))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(buf.getvalue()))


_FP_CACHE: dict[str, tuple] = {}  # dataset/student -> (float top-1, float predictions)


def data_root(cfg: BenchConfig, out: Path) -> Path:
    """Synthesized datasets: the recipe's `data_dir`, else OUT/data. Keyed by generator label and seed, so
    recipes sharing a data_dir must give a label to every generator whose flags differ."""
    return Path(cfg.data_dir) if getattr(cfg, "data_dir", None) else out / "data"


def dataset_dir(cfg: BenchConfig, out: Path, gen: GeneratorSpec, seed: int) -> Path:
    """Where the bench keeps (or finds) the synthesized dataset of one generator and seed."""
    return data_root(cfg, out) / f"{gen.key}-s{seed}"


ONLY_KEYS = ("generators", "students", "settings", "seeds")


def selected(cell: Cell, only: dict[str, set[str]] | None) -> bool:
    """Whether a cell passes the --generators/--students/--settings/--seeds filters (None: no filter)."""
    if not only:
        return True
    values = filter_values(cell)
    return all(values[k] in allowed for k, allowed in only.items() if allowed)


def filter_values(cell: Cell) -> dict[str, str]:
    """What the --generators/--students/--settings/--seeds filters compare against, for one cell."""
    return {"generators": cell.generator.key, "students": cell.student.name, "settings": cell.setting.key,
            "seeds": str(cell.seed)}


def check_only(cfg: BenchConfig, only: dict[str, set[str]] | None) -> None:
    """Refuse a --generators/--students/--settings/--seeds value that names nothing in the recipe (it would
    silently select no cell), naming the values the recipe has."""
    known: dict[str, set[str]] = {k: set() for k in ONLY_KEYS}
    for cell in plan(cfg):
        for k, v in filter_values(cell).items():
            known[k].add(v)
    for key, allowed in (only or {}).items():
        if unknown := sorted(allowed - known[key]):
            raise LisqError(f"--{key}: {', '.join(unknown)} not in this recipe; it has "
                            f"{', '.join(sorted(known[key]))}")


def make_pool(jobs: int, threads: int) -> Executor:
    """Worker processes (spawned, so no forked torch threads) with `threads` intra-op threads each."""
    ctx = multiprocessing.get_context("spawn")
    # the workers' OpenMP pools are sized from their own environment at start-up (set only in the children)
    return ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads,))


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _work(cfg: BenchConfig, out: Path, task: str, item):
    """One unit of work in a worker: ('dataset', (generator, seed)) or ('cell', Cell)."""
    bench = Bench(cfg, out, quiet=True)
    if task == "dataset":
        return bench.dataset(*item)
    return bench.run_cell(item)


def synth_request(cfg: BenchConfig, gen: GeneratorSpec, seed: int, num_images: int):
    """(SynthConfig, teachers, school) of one generator's dataset: the recipe's synth block, then the generator's."""
    from lisq.school.config import SynthConfig

    fields = {"generator": gen.name, "num_images": num_images, "seed": seed, "dataset": cfg.dataset,
              **cfg.synth, **gen.synth_fields}
    if gen.sampler:
        fields["sampler"] = gen.sampler
    return SynthConfig.from_dict(fields, source=f"generator {gen.key}"), list(gen.teachers) or None, gen.school


def recorded_difference(config_path: Path, wanted: dict) -> str | None:
    """Where a finished dataset's config.yaml differs from the resolved config of this request (read through
    the schema, so settings added since compare at their defaults), or None when it matches."""
    from lisq.school.config import normalise_resolved
    from lisq.school.writer import first_difference

    if not config_path.is_file():
        return "config.yaml (missing)"
    have = yaml.safe_load(config_path.read_text()) or {}
    a, b = normalise_resolved(have), normalise_resolved(wanted)
    where = first_difference(a, b)
    if where is None:
        return None

    def at(d, dotted):
        for part in dotted.split("."):
            d = d.get(part) if isinstance(d, dict) else None
        return d

    return f"{where}: {at(a, where)!r} recorded, {at(b, where)!r} now"


class Backend:
    """The Python API calls a bench makes (tests substitute a fake that records them)."""

    progress = False  # the cells' own progress bars (a one-process bench that is not quiet)

    def synthesize(self, out: Path, config, teachers, school) -> None:
        from lisq.school.synth import synthesize

        synthesize(out, config, teachers=teachers, school=school, resume=out.exists(), quiet=True)

    def inspect(self, out: Path, judges: list[str]) -> dict:
        from lisq.metrics.inspect import inspect_dataset

        return inspect_dataset(out, judges)

    def quantize(self, student: str, data: str, config, qdir: Path, dataset: str, num_samples: int) -> None:
        from lisq.quant.run import quantize_reference

        quantize_reference(student, data, config, qdir, dataset=dataset, num_samples=num_samples,
                           progress=self.progress)

    def quantized_metrics(self, qdir: Path, dataset: str, reference) -> dict:
        """top1, top5 and top-1 agreement with `reference` (the float model's predictions) on the evaluation split."""
        from lisq.data import get_dataset
        from lisq.metrics.accuracy import prediction_metrics, predictions
        from lisq.quant.qdir import input_spec_of, load_quantized

        qmodel, meta = load_quantized(qdir)
        ds = get_dataset(dataset)
        return prediction_metrics(*predictions(qmodel, ds.split(ds.evaluation_split).batches(input_spec_of(meta), 500)),
                                  reference)

    def float_predictions(self, student: str, dataset: str):
        """(top1, the float model's top-5 predictions) on the evaluation split."""
        from lisq.data import get_dataset
        from lisq.metrics.accuracy import prediction_metrics, predictions
        from lisq.models.resolve import resolve_model

        model, spec = resolve_model(student, dataset=dataset)
        ds = get_dataset(dataset)
        pred, labels = predictions(model, ds.split(ds.evaluation_split).batches(spec, 500))
        return prediction_metrics(pred, labels)["top1"], pred


BACKEND = Backend()


class Bench:
    def __init__(self, cfg: BenchConfig, out: Path, quiet: bool = False):
        self.cfg, self.out, self.quiet = cfg, out, quiet
        self.results = ResultsTable(out / "results.csv")
        self.fp_cache = _FP_CACHE  # per process: workers evaluate each student's float model once
        self.synth_log = out / "synthesis.jsonl"

    def num_images(self, gen: GeneratorSpec) -> int:
        return getattr(gen, "num_images", None) or self.cfg.num_images

    def dataset(self, gen: GeneratorSpec, seed: int) -> str:
        """The calibration source of `quantize_reference`: 'gaussian', 'real' or a synthesized directory (made once)."""
        from lisq.school import revision
        from lisq.school.revision import describe, outdated
        from lisq.school.synth import plan_synthesis, resolved_config

        if not gen.synthetic:
            return gen.name
        data_dir = dataset_dir(self.cfg, self.out, gen, seed)
        config, teachers, school = synth_request(self.cfg, gen, seed, self.num_images(gen))
        marker = data_dir / ".bench_done"
        if marker.is_file():
            wanted = resolved_config(*plan_synthesis(config, teachers=teachers, school=school))
            diff = recorded_difference(data_dir / "config.yaml", wanted)
            if diff is not None:
                raise LisqError(f"dataset {data_dir} was synthesized with other settings ({diff}); give this generator "
                                "a distinct `label`, pin the setting in the recipe, or delete the dataset")
            changes = outdated(yaml.safe_load((data_dir / "config.yaml").read_text()) or {})
            if changes:  # `refresh` sets these aside before the run; one made meanwhile by an older lisq is refused
                raise LisqError(f"dataset {data_dir} was synthesized before {describe(changes)}; delete it to make it again")
            self._log_reused(marker, gen.key, seed, data_dir)
            return str(data_dir)
        start = time.time()
        BACKEND.synthesize(data_dir, config, teachers, school)
        seconds = time.time() - start
        record = {"generator": gen.key, "seed": seed, "seconds": round(seconds, 1), "dir": str(data_dir),
                  "synth_revision": revision.REVISION}
        if self.cfg.judges:
            record["quality"] = BACKEND.inspect(data_dir, list(self.cfg.judges))
        with open(self.synth_log, "a") as f:
            f.write(json.dumps(record) + "\n")
        from lisq.bench.provenance import dataset_digests

        done = {"record": record, "sha256": dataset_digests(self.cfg, gen)}  # the teachers' weights it came from
        atomic_write(marker, lambda tmp: Path(tmp).write_text(json.dumps(done) + "\n"))
        return str(data_dir)

    def _log_reused(self, marker: Path, key: str, seed: int, data_dir: Path) -> None:
        """A dataset another recipe made: log its synthesis record here too (once), with the synth revision its
        config.yaml records (the one its images are of)."""
        from lisq.school.revision import revision_of

        text = marker.read_text().strip()
        if text == "ok":  # written by lisq <= 0.1 benches: nothing recorded
            return
        done = json.loads(text)
        done["record"]["synth_revision"] = revision_of(yaml.safe_load((data_dir / "config.yaml").read_text()) or {})
        logged = self.synth_log.is_file() and any(
            (r.get("generator"), r.get("seed")) == (key, seed)
            for r in map(json.loads, self.synth_log.read_text().splitlines()))
        if not logged:
            with open(self.synth_log, "a") as f:
                f.write(json.dumps(done["record"]) + "\n")

    def fp(self, student: str) -> tuple:
        """(top-1, top-5 predictions) of the student's float model, once per process."""
        key = f"{self.cfg.dataset}/{student}"
        if key not in self.fp_cache:
            self.fp_cache[key] = BACKEND.float_predictions(student, self.cfg.dataset)
        return self.fp_cache[key]

    def run_cell(self, cell: Cell) -> dict:
        import torch

        from lisq.quant.config import QuantConfig

        s = cell.setting
        data = self.dataset(cell.generator, cell.seed)
        qdir = self.out / "work" / cell.generator.key / f"s{cell.seed}" / cell.student.name / s.key
        fields = {**self.cfg.quant, "method": s.method, "w_bits": s.w_bits, "a_bits": s.a_bits, "seed": cell.seed}
        if s.iters:
            fields["iters"] = s.iters
        config = QuantConfig.from_dict(fields)
        start = time.time()
        BACKEND.quantize(cell.student.name, data, config, qdir, self.cfg.dataset, self.num_images(cell.generator))
        seconds = time.time() - start
        fp_top1, fp_pred = self.fp(cell.student.name)
        m = BACKEND.quantized_metrics(qdir, self.cfg.dataset, fp_pred)
        return {
            "generator": cell.generator.key, "sampler": cell.generator.sampler or "", "student": cell.student.name,
            "held_out": str(cell.student.held_out).lower(), "method": s.method, "w_bits": s.w_bits,
            "a_bits": s.a_bits, "seed": cell.seed, "top1": round(m["top1"], 4), "fp_top1": round(fp_top1, 4),
            "seconds": round(seconds, 1), "top5": round(m["top5"], 4), "agreement": round(m["agreement"], 4),
            "threads": torch.get_num_threads(),
        }

    def run(self, jobs: int = 1, threads: int | None = None, only: dict[str, set[str]] | None = None) -> None:
        """Run every unfinished cell (those matching `only`, if given); `jobs` > 1 runs datasets, then cells,
        in that many worker processes."""
        cells = plan(self.cfg)
        order = {c.key: i for i, c in enumerate(cells)}
        todo = [c for c in cells if c.key not in self.results.done and selected(c, only)]
        if jobs <= 1:
            BACKEND.progress = not self.quiet  # one process: the cell's own bars (BRECQ steps) show below
            bar = tqdm(todo, desc="bench", disable=self.quiet)
            for cell in bar:
                bar.set_postfix_str(f"{cell.generator.key} {cell.student.name} {cell.setting.key} s{cell.seed}")
                self.results.add(self.run_cell(cell), order)
            return
        threads = threads or max(1, usable_cpus() // jobs)
        datasets = list(dict.fromkeys((c.generator, c.seed) for c in todo if c.generator.synthetic))
        with make_pool(jobs, threads) as pool:
            self._drain(pool, "dataset", datasets, "synthesis", lambda _: None)
            self._drain(pool, "cell", todo, "bench", lambda row: self.results.add(row, order))

    def _drain(self, pool: Executor, task: str, items: list, desc: str, done) -> None:
        futures = [pool.submit(_work, self.cfg, self.out, task, item) for item in items]
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=self.quiet):
                done(future.result())
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def recipe_teachers(cfg: BenchConfig) -> list[str]:
    """Every model reference the recipe's generators synthesize from (`provenance.generator_teachers`)."""
    from lisq.bench.provenance import generator_teachers

    return list(dict.fromkeys(r for gen in cfg.generators for r in generator_teachers(cfg, gen)))


def describe_plan(cfg: BenchConfig, out: str | Path | None = None, only: dict[str, set[str]] | None = None,
                  jobs: int = 1) -> str:
    """What `run_bench` would do now, without doing it: datasets to synthesize, cells done and to run, and the
    worker time of the cells to run where this results.csv already timed the same student and setting.
    Writes nothing."""
    from lisq.bench.provenance import changed, outdated_synthesis, stale
    from lisq.school.revision import describe, outdated

    out = Path(out or cfg.out)
    cells = plan(cfg)
    table = ResultsTable(out / "results.csv")
    lines, gens = [], set()

    def run_again(is_stale, why: str) -> None:
        again = {c.key for c in cells if c.key in table.done and is_stale(c)}
        lines.append(f"{why}; {len(again)} done cells of them run again")
        table.done -= again
        table.rows = [r for r in table.rows if ResultsTable._key(r) not in again]

    moved = changed(cfg, out)
    if moved:  # what run_bench would set aside first: the rows and datasets of changed weights
        gens, students = stale(cfg, set(moved))
        run_again(lambda c: c.generator.key in gens or c.student.name in students,
                  f"weights changed since these results: {', '.join(moved)}")
    old = outdated_synthesis(cfg, out)
    if old:  # and the rows measured on datasets synthesized before a change to what they yield
        changes = describe(list(dict.fromkeys(c for v in old.values() for c in v)))
        run_again(lambda c: (c.generator.key, c.seed) in old, f"synthesized before a change to what they yield "
                  f"({changes}): {', '.join(f'{k}-s{s}' for k, s in old)}")

    def current_dataset(c) -> bool:
        d = dataset_dir(cfg, out, c.generator, c.seed)
        return (c.generator.key not in gens and (d / ".bench_done").is_file() and (d / "config.yaml").is_file()
                and not outdated(yaml.safe_load((d / "config.yaml").read_text()) or {}))

    todo = [c for c in cells if c.key not in table.done and selected(c, only)]
    made = {f"{c.generator.key}-s{c.seed}": current_dataset(c) for c in todo if c.generator.synthetic}
    timed: dict[tuple, list[float]] = {}
    for r in table.rows:
        if r.get("seconds"):
            timed.setdefault((r["student"], r["method"], str(r["w_bits"]), str(r["a_bits"])), []).append(float(r["seconds"]))
    known, unknown = 0.0, 0
    for c in todo:
        got = timed.get((c.student.name, c.setting.method, str(c.setting.w_bits), str(c.setting.a_bits)))
        known, unknown = (known + sum(got) / len(got), unknown) if got else (known, unknown + 1)
    missing = [k for k, v in made.items() if not v]
    lines += [f"{cfg.name}: {len(cells)} cells in the recipe, {sum(c.key in table.done for c in cells)} done, "
             f"{len(todo)} to run now (results: {out})",
             f"datasets: {len(made)} needed by those cells, {len(made) - len(missing)} already synthesized, "
             f"{len(missing)} to synthesize" + (f" ({', '.join(missing)})" if missing else "")]
    if todo:
        per_setting = Counter(c.setting.key for c in todo)
        lines.append("cells to run by setting: " + ", ".join(f"{k} {v}" for k, v in per_setting.items()))
        estimate = f"about {known / 3600:.1f} h of worker time for the {len(todo) - unknown} cells timed before"
        if jobs > 1:
            estimate += f" ({known / 3600 / jobs:.1f} h wall with --jobs {jobs})"
        lines.append(estimate + (f"; {unknown} cells have no earlier timing" if unknown else "") + "; synthesis not included")
    return "\n".join(lines)


def run_bench(cfg: BenchConfig, out: str | Path | None = None, quiet: bool = False, jobs: int = 1,
              threads: int | None = None, only: dict[str, set[str]] | None = None) -> Path:
    """Run (or resume) every cell of `cfg`, then write the tables and plots. Returns the results dir.

    `jobs` worker processes share the cells (each with `threads` torch threads, default cores / jobs);
    results do not depend on `jobs` beyond float reduction order. `only` ({"generators": {...},
    "students": ..., "settings": {"brecq-W2A4", ...}, "seeds": {"0"}}) runs a subset now; the rest of
    the plan stays for a later run, and the report covers the whole recipe.
    """
    from lisq.bench.report import write_report

    out = Path(out or cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "config.yaml", lambda tmp: Path(tmp).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False)))
    if only:
        known = {"generators": {g.key for g in cfg.generators}, "students": {s.name for s in cfg.students},
                 "settings": {s.key for s in cfg.settings}, "seeds": {str(s) for s in cfg.seeds}}
        for key, values in only.items():
            unknown = set(values or ()) - known[key]
            if unknown:
                raise LisqError(f"--{key} {','.join(sorted(unknown))}: not in the recipe; choose from {','.join(sorted(known[key]))}")
    from lisq.zoo.outside import ensure_published

    # outside students, judges and teachers, once, before the workers
    for name in dict.fromkeys([s.name for s in cfg.students] + list(cfg.judges) + recipe_teachers(cfg)):
        ensure_published(name, cfg.dataset, None if quiet else tqdm.write)
    from lisq.bench.provenance import refresh

    refresh(cfg, out, data_root(cfg, out), log=(lambda _: None) if quiet else tqdm.write)
    Bench(cfg, out, quiet).run(jobs, threads, only)
    write_report(out, cfg)
    return out
