"""Which weights a bench's numbers came from: a SHA-256 per model file, kept as OUT/models.json.

A bench keeps every finished cell and dataset and never recomputes it. That is only right while the models
stay the same: retrain a teacher or a student (`lisq zoo train`, a new import) and the kept rows describe
weights that no longer exist. So every run compares the digests of the recipe's students and teachers with
the ones recorded beside the results. A model whose weights changed makes its rows stale: those of it as a
student, and those of every generator that synthesizes from it. Stale rows move to results.stale.csv and
stale datasets to DATA/stale/, both kept, and the run measures them again (their synthesis records move to
synthesis.stale.jsonl). Models without a local weights file (a `source:` reference resolved at load time) are
not tracked. The same goes for a change to the synthesis code that alters what a generator's settings yield
(`lisq.school.revision`): the rows measured on a dataset made before it, and the dataset, are set aside.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import yaml

from lisq.errors import LisqError
from lisq.models.checkpoint import atomic_write

FILE = "models.json"
STALE_ROWS = "results.stale.csv"


def weights_file(ref: str, dataset: str) -> Path | None:
    """The local file holding `ref`'s weights: a path as given, or a registered model's shipped/cached file."""
    from lisq.models.registry import is_registered, pretrained_path

    path = Path(ref)
    if path.suffix in (".safetensors", ".pt", ".pth", ".th") and path.is_file():
        return path
    if ":" in ref or not is_registered(ref):
        return None
    return pretrained_path(ref, dataset)


def digest(path: Path | None) -> str | None:
    from lisq.zoo.outside import sha256_of

    return None if path is None else sha256_of(path)


def generator_teachers(cfg, gen) -> list[str]:
    """The model references one generator synthesizes from (empty for gaussian/real): its teachers, its
    single teacher, and its school file's teachers (the dataset's shipped school when it names none), read
    as YAML; registry names qualified with the recipe's dataset."""
    from lisq.models.registry import weights_name
    from lisq.school.courses import default_school_path

    def qualify(ref: str) -> str:
        return ref if ("." in ref or ":" in ref) else weights_name(ref, cfg.dataset)

    if not gen.synthetic:
        return []
    refs: list[str] = list(gen.teachers)
    teacher = gen.synth_fields.get("teacher")
    if teacher:
        refs.append(str(teacher))
        if gen.sampler == "single":  # the named teacher is the only one it inverts
            return [qualify(r) for r in refs]

    def walk(node):
        if isinstance(node, dict):
            for entry in node.get("teachers", []) or []:
                refs.append(str(entry.get("model", "")) if isinstance(entry, dict) else str(entry))
            for child in node.get("courses", []) or []:
                walk(child)
            for entry in node.get("always", []) or []:  # the school's teachers in every schedule
                refs.append(str(entry.get("model", "")) if isinstance(entry, dict) else str(entry))

    school = Path(gen.school) if gen.school else (None if gen.teachers else default_school_path(cfg.dataset))
    if school is not None and school.is_file():
        walk(yaml.safe_load(school.read_text()) or {})
    return [qualify(r) for r in dict.fromkeys(refs) if r]


def current(cfg) -> dict[str, str | None]:
    """SHA-256 of every student's and teacher's weights file now (None: not tracked)."""
    refs = [s.name for s in cfg.students] + [r for g in cfg.generators for r in generator_teachers(cfg, g)]
    return {ref: digest(weights_file(ref, cfg.dataset)) for ref in dict.fromkeys(refs)}


def recorded(out: Path) -> dict[str, str | None]:
    path = out / FILE
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text())["sha256"])
    except (ValueError, KeyError, TypeError):
        raise LisqError(f"{path} is not a weights record written by lisq bench; move it aside to record the current "
                        "weights (the cells already in results.csv are then trusted as they are)") from None


def changed(cfg, out: Path, now: dict | None = None) -> dict[str, tuple[str, str]]:
    """Models whose weights differ from the ones these results were measured with: ref -> (then, now)."""
    now = current(cfg) if now is None else now
    then = recorded(out)
    return {ref: (then[ref], sha) for ref, sha in now.items() if then.get(ref) and sha and then[ref] != sha}


def stale(cfg, models: set[str]) -> tuple[set[str], set[str]]:
    """(generator keys that synthesize from any of `models`, students among `models`)."""
    gens = {g.key for g in cfg.generators if models & set(generator_teachers(cfg, g))}
    return gens, {s.name for s in cfg.students if s.name in models}


def synthesis_settings(cfg, gen, seed: int) -> dict:
    """The resolved synth settings of one generator's dataset for `seed` (loads no weights)."""
    from lisq.bench.runner import synth_request
    from lisq.school.synth import plan_synthesis

    config, teachers, school = synth_request(cfg, gen, seed, getattr(gen, "num_images", None) or cfg.num_images)
    return plan_synthesis(config, teachers=teachers, school=school)[0].to_dict()


def outdated_synthesis(cfg, out: Path) -> dict[tuple[str, int], list]:
    """(generator key, seed) -> the synthesis code changes (`lisq.school.revision`) made since the dataset behind
    that generator's rows in OUT/results.csv was synthesized, where they alter its images. The revision comes from
    the dataset's record in OUT/synthesis.jsonl (revision 1 without one)."""
    from lisq.school.revision import REVISION, changes_since, revision_of

    gens = {g.key: g for g in cfg.generators if g.synthetic}
    made: dict[tuple[str, int], int] = {}
    log = out / "synthesis.jsonl"
    for line in log.read_text().splitlines() if log.is_file() else ():
        if line.strip():
            r = json.loads(line)
            made[(r.get("generator"), int(r.get("seed", -1)))] = revision_of(r)
    path = out / "results.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        used = {(r["generator"], int(r["seed"])) for r in csv.DictReader(f) if r["generator"] in gens}
    found = {}
    for key, seed in sorted(used):
        if made.get((key, seed), 1) == REVISION:  # made by this code: nothing to resolve
            continue
        changes = changes_since(made.get((key, seed), 1), synthesis_settings(cfg, gens[key], seed))
        if changes:
            found[(key, seed)] = changes
    return found


def refresh(cfg, out: Path, data_root: Path, log=print) -> dict[str, tuple[str, str]]:
    """Move the rows and datasets that depend on changed weights, or on synthesis code changed since (an outdated
    synth revision), aside, then record the current digests."""
    from lisq.school.revision import describe

    old = outdated_synthesis(cfg, out)
    for (key, seed), changes in old.items():
        log(f"{key} seed {seed}: its dataset was synthesized before {describe(changes)}; its cells are measured again")
    if old:
        _move_rows(out, lambda r: (r["generator"], int(r["seed"])) in old)
        _move_synth_records(out, lambda r: (r.get("generator"), int(r.get("seed", -1))) in old)
    _move_outdated_datasets(cfg, data_root, log)
    now = current(cfg)
    moved = changed(cfg, out, now)
    if moved:
        gens, students = stale(cfg, set(moved))
        for ref, (then, sha) in moved.items():
            log(f"{ref}: weights changed since these results (sha256 {then[:12]} then, {sha[:12]} now); "
                "its cells are measured again")
        _move_rows(out, lambda r: r["generator"] in gens or r["student"] in students)
        _move_synth_records(out, lambda r: r.get("generator") in gens)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for d in sorted(data_root.glob("*-s*")) if data_root.is_dir() else ():
            key = d.name.rpartition("-s")[0]
            gen = next((g for g in cfg.generators if g.key == key), None)
            if gen is not None and key in gens and d.is_dir() and not made_with(d, cfg, gen, now):
                _set_aside(d, data_root, stamp, "synthesized from changed weights", log)
    atomic_write(out / FILE, lambda tmp: Path(tmp).write_text(json.dumps({"sha256": now}, indent=2) + "\n"))
    return moved


def dataset_digests(cfg, gen, now: dict | None = None) -> dict[str, str | None]:
    """The digests of one generator's teachers, as written into its datasets' `.bench_done` marker."""
    now = current(cfg) if now is None else now
    return {ref: now.get(ref) for ref in generator_teachers(cfg, gen)}


def made_with(data_dir: Path, cfg, gen, now: dict) -> bool:
    """Whether a finished dataset's marker says it was synthesized from the teachers' current weights (a
    dataset another recipe sharing the data_dir has already remade)."""
    marker = data_dir / ".bench_done"
    try:
        made = json.loads(marker.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        return False
    return bool(made) and made == dataset_digests(cfg, gen, now)


def _move_outdated_datasets(cfg, data_root: Path, log) -> None:
    """Finished datasets of this recipe's generators whose config.yaml predates a change to what they yield ->
    DATA/stale/ (kept; the bench synthesizes them again)."""
    from lisq.school.revision import describe, outdated

    keys = {g.key for g in cfg.generators if g.synthetic}
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for d in sorted(data_root.glob("*-s*")) if data_root.is_dir() else ():
        config = d / "config.yaml"
        if d.name.rpartition("-s")[0] not in keys or not (d / ".bench_done").is_file() or not config.is_file():
            continue
        changes = outdated(yaml.safe_load(config.read_text()) or {})
        if changes:
            _set_aside(d, data_root, stamp, f"synthesized before {describe(changes)}", log)


def _set_aside(d: Path, data_root: Path, stamp: str, why: str, log) -> None:
    """A dataset the bench will make again -> DATA/stale/NAME-STAMP (kept)."""
    target = data_root / "stale" / f"{d.name}-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    d.rename(target)
    log(f"{d}: {why}; moved to {target}")


def _move_synth_records(out: Path, is_stale) -> None:
    """synthesis.jsonl records (seconds, quality) for which `is_stale(record)` -> synthesis.stale.jsonl."""
    path = out / "synthesis.jsonl"
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    old = [line for line in lines if is_stale(json.loads(line))]
    if old:
        with open(out / "synthesis.stale.jsonl", "a") as f:
            f.write("\n".join(old) + "\n")
        keep = [line for line in lines if line not in old]
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in keep)))


def _move_rows(out: Path, is_stale) -> None:
    from lisq.bench.runner import COLUMNS

    path = out / "results.csv"
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    old = [r for r in rows if is_stale(r)]
    if not old:
        return
    keep = [r for r in rows if not is_stale(r)]
    stale_path = out / STALE_ROWS
    with open(stale_path, "a", newline="") as f:  # appended before results.csv shrinks: a kill loses no row
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        if f.tell() == 0:
            writer.writeheader()
        writer.writerows(old)

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(keep)

    atomic_write(path, write)
