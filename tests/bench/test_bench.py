"""The bench orchestration, with the API calls it makes replaced by a fake that records them."""

import csv
import json

import pytest
import yaml

from lisq.bench import load_bench_config, run_bench
from lisq.bench import runner as runner_mod
from lisq.bench.runner import plan, synth_request
from lisq.errors import LisqError

RECIPE = {
    "name": "tiny",
    "num_images": 64,
    "seeds": [0, 1],
    "synth": {"iters": 5, "batch_size": 32},
    "quant": {"round_lr": 0.01},
    "generators": [{"name": "gaussian"}, {"name": "lis", "sampler": "hierarchical"}],
    "students": [{"name": "resnet8", "held_out": False}, {"name": "mobilenetv2_050", "held_out": True}],
    "settings": [{"method": "brecq", "w_bits": 2, "a_bits": 4, "headline": True}, {"method": "minmax", "w_bits": 8, "a_bits": 8}],
    "quick": {"seeds": [0], "students": [{"name": "resnet8", "held_out": False}]},
}


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return path


class FakeBackend:
    """Records the API calls of the bench; synthesis writes only the resolved config.yaml."""

    def __init__(self, fail_after=None):
        self.calls, self.fail_after = [], fail_after

    def synthesize(self, out, config, teachers, school):
        from lisq.school.synth import plan_synthesis, resolved_config

        self.calls.append(("synth", config, teachers, school))
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(resolved_config(*plan_synthesis(config, teachers=teachers, school=school))))

    def inspect(self, out, judges):
        self.calls.append(("inspect", out, judges))
        return {"judges": {}}

    def quantize(self, student, data, config, qdir, dataset, num_samples):
        self.calls.append(("quantize", student, data, config, num_samples))
        if self.fail_after is not None and sum(c[0] == "quantize" for c in self.calls) > self.fail_after:
            raise KeyboardInterrupt

    def quantized_metrics(self, qdir, dataset, reference):
        self.calls.append(("eval-q", qdir))
        assert reference == "fp-pred"  # the float model's predictions, for the agreement
        top1 = 0.5 + 0.01 * len(str(qdir)) % 0.4
        return {"top1": top1, "top5": min(1.0, top1 + 0.05), "agreement": 0.8}

    def float_predictions(self, student, dataset):
        self.calls.append(("eval", student))
        return 0.9, "fp-pred"


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend()
    monkeypatch.setattr(runner_mod, "BACKEND", backend)
    return backend


def test_plan_headline_cells_get_every_seed(recipe):
    cells = plan(load_bench_config(recipe))
    # 2 generators x 2 students x (2 settings for seed 0 + 1 headline setting for seed 1)
    assert len(cells) == 2 * 2 * 3
    assert {c.setting.method for c in cells if c.seed == 1} == {"brecq"}
    headline = [c.setting.headline for c in cells]
    assert headline == sorted(headline, reverse=True)  # every seed's headline cells before the extras


def test_plan_without_headline_settings_has_each_cell_once(tmp_path):
    path = tmp_path / "plain.yaml"
    settings = [{k: v for k, v in s.items() if k != "headline"} for s in RECIPE["settings"]]
    path.write_text(yaml.safe_dump({**RECIPE, "settings": settings}))
    cells = plan(load_bench_config(path))
    assert len(cells) == 2 * 2 * 2 * 2 and len({c.key for c in cells}) == len(cells)


def test_quick_overrides(recipe):
    cfg = load_bench_config(recipe, quick=True)
    assert cfg.seeds == (0,) and [s.name for s in cfg.students] == ["resnet8"]


def test_run_writes_csv_table_and_synthesizes_once_per_generator_and_seed(recipe, tmp_path, fake):
    out = run_bench(load_bench_config(recipe), tmp_path / "res", quiet=True)
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == runner_mod.COLUMNS
    import torch

    assert {r["threads"] for r in rows} == {str(torch.get_num_threads())}  # what the same bytes need again
    assert len(rows) == 12
    assert {r["held_out"] for r in rows if r["student"] == "mobilenetv2_050"} == {"true"}
    synths = [c for c in fake.calls if c[0] == "synth"]
    assert len(synths) == 2  # lis for seeds 0 and 1; gaussian needs none
    assert all(c[1].sampler == "hierarchical" and c[1].iters == 5 and c[1].batch_size == 32 for c in synths)
    assert sorted(c[1].seed for c in synths) == [0, 1]
    quantize = [c for c in fake.calls if c[0] == "quantize"]
    assert any(c[2] == "gaussian" for c in quantize)
    assert all(c[3].round_lr == 0.01 for c in quantize)
    assert "resnet8 (in-pool" in (out / "results.md").read_text()
    assert (out / "accuracy.png").stat().st_size > 0


def test_resume_skips_finished_cells(recipe, tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "BACKEND", FakeBackend(fail_after=5))
    with pytest.raises(KeyboardInterrupt):
        run_bench(load_bench_config(recipe), tmp_path / "res", quiet=True)
    with open(tmp_path / "res" / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 5
    again = FakeBackend()
    monkeypatch.setattr(runner_mod, "BACKEND", again)
    run_bench(load_bench_config(recipe), tmp_path / "res", quiet=True)
    assert sum(c[0] == "quantize" for c in again.calls) == 7
    with open(tmp_path / "res" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and len({tuple(r.values()) for r in rows}) == 12


def test_dry_run_says_what_would_run_and_writes_nothing(recipe, tmp_path, monkeypatch, capsys):
    from lisq import cli
    from lisq.bench.runner import describe_plan

    cfg = load_bench_config(recipe)
    text = describe_plan(cfg, tmp_path / "res")
    assert "12 cells in the recipe, 0 done, 12 to run now" in text
    assert "2 to synthesize (lis-hierarchical-s0, lis-hierarchical-s1)" in text
    assert "12 cells have no earlier timing" in text and not (tmp_path / "res").exists()
    monkeypatch.setattr(runner_mod, "BACKEND", FakeBackend(fail_after=5))
    with pytest.raises(KeyboardInterrupt):
        run_bench(cfg, tmp_path / "res", quiet=True)
    text = describe_plan(cfg, tmp_path / "res", jobs=2)
    assert "0 done" not in text and "5 done, 7 to run now" in text
    assert "cells to run by setting: brecq-W2A4 " in text and "h wall with --jobs 2" in text
    # the filters count only the selected cells
    assert "to run now" in describe_plan(cfg, tmp_path / "res", {"seeds": {"1"}})
    before = sorted(p.name for p in (tmp_path / "res").rglob("*"))
    assert cli.main(["bench", "--config", str(recipe), "--out", str(tmp_path / "res"), "--dry-run"]) == 0
    assert "to run now" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "res").rglob("*")) == before
    # a filter naming nothing in the recipe (`lis` for the label `lis-hierarchical`) is one line, not an empty run
    for flag, value, unknown, known in (("--generators", "lis", "lis", "lis-hierarchical"), ("--seeds", "0,7", "7", "0, 1"),
                                        ("--students", "nosuch", "nosuch", cfg.students[0].name)):
        assert cli.main(["bench", "--config", str(recipe), "--out", str(tmp_path / "res"), flag, value, "--dry-run"]) == 2
        err = capsys.readouterr().err
        assert f"{flag}: {unknown} not in this recipe; it has " in err and known in err.split("it has ")[1]
        assert len(err.strip().splitlines()) == 1
    assert cli.main(["bench", "--config", str(recipe), "--out", str(tmp_path / "res"), "--generators",
                     "lis-hierarchical", "--dry-run"]) == 0


@pytest.mark.parametrize(
    "change, msg",
    [
        ({"colour": 1}, "unknown keys"),
        ({"generators": [{"name": "magic"}]}, "unknown generator"),
        ({"settings": [{"method": "brecq", "w_bits": 1, "a_bits": 4}]}, "bits 2-8"),
        ({"students": [{"name": "resnet8"}]}, "malformed"),
    ],
)
def test_bad_recipes(tmp_path, change, msg):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, **change}))
    with pytest.raises(LisqError, match=msg):
        load_bench_config(path)


def test_missing_recipe_is_clear(tmp_path):
    with pytest.raises(LisqError, match="does not exist"):
        load_bench_config(tmp_path / "none.yaml")


def test_jobs_run_the_same_cells_in_plan_order(recipe, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    serial, parallel = FakeBackend(), FakeBackend()
    monkeypatch.setattr(runner_mod, "BACKEND", serial)
    run_bench(load_bench_config(recipe), tmp_path / "one", quiet=True)
    monkeypatch.setattr(runner_mod, "BACKEND", parallel)
    pools = []
    monkeypatch.setattr(runner_mod, "make_pool", lambda jobs, threads: pools.append((jobs, threads)) or ThreadPoolExecutor(jobs))
    run_bench(load_bench_config(recipe), tmp_path / "two", quiet=True, jobs=2, threads=1)
    assert pools == [(2, 1)]
    one = (tmp_path / "one" / "results.csv").read_text().splitlines()
    two = (tmp_path / "two" / "results.csv").read_text().splitlines()
    assert [r.split(",")[:8] for r in one] == [r.split(",")[:8] for r in two]
    # every dataset is made before the first cell that needs it, once
    kinds = [c[0] for c in parallel.calls if c[0] in ("synth", "quantize")]
    assert kinds.count("synth") == 2 and kinds.index("quantize") > max(i for i, k in enumerate(kinds) if k == "synth")


def test_jobs_real_worker_processes(tmp_path):
    """Spawned workers run real (cheap) cells: gaussian data, minmax W8A8 on the shipped resnet8."""
    recipe = tmp_path / "real.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "real", "num_images": 32, "seeds": [0, 1],
        "generators": [{"name": "gaussian"}], "students": [{"name": "resnet8", "held_out": False}],
        "settings": [{"method": "minmax", "w_bits": 8, "a_bits": 8, "headline": True}],
    }))
    out = run_bench(load_bench_config(recipe), tmp_path / "res", quiet=True, jobs=2, threads=1)
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["seed"] for r in rows] == ["0", "1"]
    assert all(abs(float(r["top1"]) - float(r["fp_top1"])) < 0.01 for r in rows)
    assert all(float(r["agreement"]) >= 0.95 and float(r["top5"]) >= float(r["top1"]) for r in rows)


def test_shared_data_dir_reuses_datasets_and_refuses_other_flags(recipe, tmp_path, fake):
    raw = {**RECIPE, "data_dir": str(tmp_path / "shared")}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(raw))
    run_bench(load_bench_config(tmp_path / "a.yaml"), tmp_path / "a", quiet=True)
    first = sum(c[0] == "synth" for c in fake.calls)
    run_bench(load_bench_config(tmp_path / "a.yaml"), tmp_path / "b", quiet=True)
    assert sum(c[0] == "synth" for c in fake.calls) == first == 2  # the second recipe reuses both lis datasets
    assert (tmp_path / "b" / "synthesis.jsonl").read_text().count('"lis-hierarchical"') == 2
    raw["synth"] = {"iters": 7, "batch_size": 32}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(LisqError, match="distinct `label`"):
        run_bench(load_bench_config(tmp_path / "c.yaml"), tmp_path / "c", quiet=True)


def test_shared_dataset_made_under_another_default_is_refused(recipe, tmp_path, fake):
    """Same flags, but the dataset's recorded settings differ from what they resolve to now (a default changed)."""
    raw = {**RECIPE, "data_dir": str(tmp_path / "shared"), "synth": {"iters": 5, "batch_size": 32, "k": 3}}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(raw))
    run_bench(load_bench_config(tmp_path / "a.yaml"), tmp_path / "a", quiet=True)
    data = tmp_path / "shared" / "lis-hierarchical-s0"
    recorded = yaml.safe_load((data / "config.yaml").read_text())
    del recorded["synth"]["dataset"], recorded["schema"]  # as lisq <= 0.1 wrote it: reused, read through the schema
    (data / "config.yaml").write_text(yaml.safe_dump(recorded))
    run_bench(load_bench_config(tmp_path / "a.yaml"), tmp_path / "b", quiet=True)
    assert sum(c[0] == "synth" for c in fake.calls) == 2
    recorded["synth"]["k"] = 2  # made when another default held
    (data / "config.yaml").write_text(yaml.safe_dump(recorded))
    with pytest.raises(LisqError, match="other settings \\(synth.k: 2 recorded, 3 now\\)"):
        run_bench(load_bench_config(tmp_path / "a.yaml"), tmp_path / "c", quiet=True)


def test_spearman_and_quality_table():
    from lisq.bench.report import quality_table, spearman

    assert spearman([1, 2, 3, 4], [10, 20, 30, 25]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) != spearman([1, 2], [1, 2])  # nan: too few points
    cfg = load_bench_config_from(RECIPE | {"generators": [{"name": "lis", "label": g} for g in "abc"]})
    rows = [{"generator": g, "student": "resnet8", "method": "brecq", "w_bits": "2", "a_bits": "4", "top1": str(acc)}
            for g, acc in zip("abc", (0.5, 0.7, 0.6), strict=True)]
    quality = {g: {"fidelity": f, "bn_distance": b, "diversity": 0.3, "frechet": 1.0}
               for g, f, b in zip("abc", (0.1, 0.9, 0.5), (3.0, 1.0, 2.0), strict=True)}
    text = quality_table(rows, cfg, quality)
    line = next(x for x in text.splitlines() if x.startswith("| brecq W2A4 |"))
    assert line.split("|")[2:4] == [" +1.00 ", " +1.00 "]  # fidelity up and BN distance down both rank b > c > a, as accuracy does
    assert "| b | 0.900 | 1.000 |" in text



def write_recipe_out(out, accs, fids):
    """A results directory as `lisq bench` leaves it: results.csv and synthesis.jsonl (one judge); an accuracy
    or fidelity given as a list is one value per seed."""
    import json

    out.mkdir()
    as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["generator", "student", "method", "w_bits", "a_bits", "seed", "top1"])
        w.writeheader()
        for g, acc in accs.items():
            for seed, a in enumerate(as_list(acc)):
                w.writerow({"generator": g, "student": "resnet14", "method": "brecq", "w_bits": 2, "a_bits": 4,
                            "seed": seed, "top1": a})
    with open(out / "synthesis.jsonl", "w") as f:
        for g, fid in fids.items():
            for seed, v in enumerate(as_list(fid)):
                judge = {"fidelity": v, "bn_distance": 1 - v, "diversity": {"overall": 0.5}, "frechet": 2.0}
                f.write(json.dumps({"generator": g, "seed": seed, "seconds": 10.0 * (seed + 1),
                                    "quality": {"judges": {"j": judge}}}) + "\n")


def test_pooled_quality_table_counts_a_shared_baseline_once(tmp_path):
    from lisq.bench.report import pooled_quality_table

    write_recipe_out(tmp_path / "k", {"lis": 0.6, "lis-k1": 0.4}, {"lis": 0.5, "lis-k1": 0.2})
    write_recipe_out(tmp_path / "iters", {"lis": 0.6, "lis-K50": 0.3, "lis-K400": 0.7},
                     {"lis": 0.5, "lis-K50": 0.1, "lis-K400": 0.3})
    write_recipe_out(tmp_path / "school", {"lis-s2": 0.35, "lis-s2-R5": 0.35}, {"lis-s2": 0.15, "lis-s2-R5": 0.15})
    text = pooled_quality_table([tmp_path / "k", tmp_path / "iters", tmp_path / "school"])
    rows = [x.split("|")[1].strip() for x in text.splitlines() if x.startswith("| lis")]
    assert rows == ["lis", "lis-k1", "lis-K50", "lis-K400", "lis-s2 = lis-s2-R5"]  # identical data: one row
    assert "| lis | k, iters | 1 | 10 | 0.500 |" in text
    assert "over these 5 datasets" in text
    # fidelity ranks K50 < s2 < k1 < K400 < lis, accuracy K50 < s2 < k1 < lis < K400: Spearman 0.9, BN distance too
    line = next(x for x in text.splitlines() if x.startswith("| resnet14 brecq W2A4 |"))
    assert line.split("|")[2:4] == [" +0.90 ", " +0.90 "]
    assert pooled_quality_table([tmp_path / "missing"]) == ""


def test_pooled_quality_table_prefers_the_recipe_with_more_seeds(tmp_path):
    from lisq.bench.report import pooled_quality_table

    write_recipe_out(tmp_path / "a", {"lis": 0.6, "lis-R5": 0.7}, {"lis": 0.5, "lis-R5": 0.6})
    write_recipe_out(tmp_path / "b", {"lis": [0.6, 0.8, 0.7]}, {"lis": [0.5, 0.7, 0.6]})
    text = pooled_quality_table([tmp_path / "a", tmp_path / "b"])
    assert "| lis | a, b | 3 | 20 | 0.600 | 0.400 | 0.500 | 2.000 | 70.00 | 70.00 |" in text
    assert "| lis-R5 | a | 1 | 10 | 0.600 |" in text

def load_bench_config_from(raw):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_bench_config(path)


def test_shipped_recipes_load_and_ablations_share_one_baseline():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    assert len(plan(load_bench_config(root / "fmnist.yaml"))) == 264
    lite = load_bench_config(root / "imagenet_lite.yaml")
    assert lite.dataset == "imagenet" and len(plan(lite)) == 32 and lite.num_images >= 128
    assert [s.name for s in lite.students if s.held_out] == ["effnet:lite2"]
    c10 = load_bench_config(root / "cifar10.yaml")
    assert c10.dataset == "cifar10" and len(c10.seeds) == 3
    assert {s.name for s in c10.students if s.held_out} == {"mobilenetv2_050.cifar10", "resnet20a.cifar10", "resnet32a.cifar10"}
    assert {g.name for g in c10.generators} == {"gaussian", "real", "zeroq", "deepinversion", "lis", "mixmix"}
    # per shared data_dir (one per dataset; ImageNet's ablation shares the recipe's): one `lis` baseline
    shared = {"fmnist": "results/ablations/data", "cifar10": "results/ablations/cifar10-data", "imagenet": "results/imagenet-lite/data"}
    baselines: dict[str, set] = {}
    for path in sorted((root / "ablations").glob("*.yaml")):
        cfg = load_bench_config(path)
        assert all(s.held_out for s in cfg.students)
        assert cfg.data_dir == shared[cfg.dataset]
        baselines.setdefault(cfg.data_dir, set()).update(
            repr(synth_request(cfg, g, 0, cfg.num_images)) for g in cfg.generators if g.key == "lis")
    assert set(baselines) == set(shared.values())
    assert all(len(b) == 1 for b in baselines.values())
    # the ImageNet speed ablation's baseline is the recipe's own LIS set (read from disk, not synthesized again)
    lite_lis = next(g for g in lite.generators if g.key == "lis")
    assert baselines["results/imagenet-lite/data"] == {repr(synth_request(lite, lite_lis, 0, lite.num_images))}


def test_generator_num_images_overrides_recipe(recipe, tmp_path, fake):
    raw = {**RECIPE, "seeds": [0], "generators": [{"name": "lis", "label": "big", "num_images": 96}]}
    run_bench(load_bench_config_from(raw), tmp_path / "res", quiet=True)
    synth = next(c for c in fake.calls if c[0] == "synth")
    quant = next(c for c in fake.calls if c[0] == "quantize")
    assert synth[1].num_images == 96 and quant[4] == 96


def test_only_runs_the_selected_cells_and_the_rest_later(recipe, tmp_path, fake):
    cfg = load_bench_config(recipe)
    run_bench(cfg, tmp_path / "res", quiet=True, only={"generators": {"lis-hierarchical"}, "seeds": {"1"}})
    with open(tmp_path / "res" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["generator"], r["seed"]) for r in rows} == {("lis-hierarchical", "1")} and len(rows) == 2
    run_bench(cfg, tmp_path / "res", quiet=True)
    with open(tmp_path / "res" / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 12
    with pytest.raises(LisqError, match="not in the recipe"):
        run_bench(cfg, tmp_path / "res", quiet=True, only={"students": {"resnet99"}})


def test_report_names_a_student_without_cells_instead_of_nan(recipe):
    from lisq.bench.report import markdown_table

    rows = [{"generator": "gaussian", "sampler": "", "student": "resnet8", "method": "minmax", "w_bits": "8",
             "a_bits": "8", "seed": "0", "top1": "0.5", "fp_top1": "0.9"}]
    text = markdown_table(rows, load_bench_config(recipe))
    assert "### resnet8 (in-pool, full precision 90.00)" in text
    assert "### mobilenetv2_050 (held-out, no cell yet)" in text and "nan" not in text


def test_recipe_teachers_include_school_files_and_single_teachers(tmp_path):
    """The bench imports published outside models before its workers: teachers of school files count too."""
    from lisq.bench.runner import recipe_teachers

    school = tmp_path / "s.yaml"
    school.write_text(yaml.safe_dump({"dataset": "cifar10", "courses": [
        {"name": "a", "teachers": ["resnet20.cifar10", {"model": "resnet20a"}]},
        {"name": "b", "courses": [{"name": "c", "teachers": ["resnet32a.cifar10"]}]}], "always": ["shufflenetv2_32"]}))
    raw = {**RECIPE, "dataset": "cifar10", "generators": [
        {"name": "lis", "school": str(school)},
        {"name": "deepinversion", "teachers": ["vgg7"]},
        {"name": "lis", "label": "one", "sampler": "single", "synth": {"teacher": "mobilenetv2_100.cifar10"}}]}
    assert recipe_teachers(load_bench_config_from(raw)) == [
        "resnet20.cifar10", "resnet20a.cifar10", "resnet32a.cifar10", "shufflenetv2_32.cifar10", "vgg7.cifar10",
        "mobilenetv2_100.cifar10"]
    # a lis generator with no school synthesizes from the dataset's shipped one
    from lisq.bench.provenance import generator_teachers
    from lisq.school.courses import default_school

    cfg = load_bench_config_from({**RECIPE, "dataset": "cifar10"})
    assert generator_teachers(cfg, cfg.generators[1]) == default_school("cifar10").names()
    assert generator_teachers(cfg, cfg.generators[0]) == []  # gaussian


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """Every model's weights as a small file of its own under tmp_path/w, so a test can 'retrain' one."""
    from lisq.bench import provenance

    root = tmp_path / "w"
    root.mkdir()

    def weights_file(ref, dataset):
        path = root / f"{ref}.bin"
        if not path.is_file():
            path.write_bytes(b"v1")
        return path

    monkeypatch.setattr(provenance, "weights_file", weights_file)
    return root


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_changed_student_weights_rerun_its_cells_and_keep_the_old_rows(recipe, tmp_path, fake, weights):
    cfg, out = load_bench_config(recipe), tmp_path / "res"
    run_bench(cfg, out, quiet=True)
    first = rows_of(out / "results.csv")
    assert json.loads((out / "models.json").read_text())["sha256"]["resnet8"] is not None
    run_bench(cfg, out, quiet=True)
    assert not (out / "results.stale.csv").exists()  # nothing changed: nothing moved, nothing rerun
    (weights / "resnet8.bin").write_bytes(b"v2")  # retrained
    from lisq.bench.runner import describe_plan

    assert "weights changed since these results: resnet8; 6 done cells of them run again" in describe_plan(cfg, out)
    fake.calls.clear()
    run_bench(cfg, out, quiet=True)
    assert {c[1] for c in fake.calls if c[0] == "quantize"} == {"resnet8"} and sum(c[0] == "quantize" for c in fake.calls) == 6
    assert not any(c[0] == "synth" for c in fake.calls)  # the datasets did not come from resnet8
    stale = rows_of(out / "results.stale.csv")
    assert len(stale) == 6 and {r["student"] for r in stale} == {"resnet8"}
    assert len(rows_of(out / "results.csv")) == len(first) == 12
    (out / "models.json").write_text("{not json")
    with pytest.raises(LisqError, match="not a weights record"):
        run_bench(cfg, out, quiet=True)


def run_two_recipes_sharing_data(recipe, tmp_path):
    """Recipes a (both students) and b (mobilenetv2_050 only) sharing one data_dir, each run once into
    tmp_path/ra and tmp_path/rb; returns their paths."""
    shared = yaml.safe_load(recipe.read_text())
    shared["data_dir"] = str(tmp_path / "data")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump(shared))
    b.write_text(yaml.safe_dump({**shared, "students": [{"name": "mobilenetv2_050", "held_out": True}]}))
    run_bench(load_bench_config(a), tmp_path / "ra", quiet=True)
    run_bench(load_bench_config(b), tmp_path / "rb", quiet=True)
    return a, b


def test_changed_teacher_weights_remake_its_datasets_once_across_shared_recipes(recipe, tmp_path, fake, weights):
    a, b = run_two_recipes_sharing_data(recipe, tmp_path)
    from lisq.bench.provenance import generator_teachers

    cfg = load_bench_config(a)
    teacher = generator_teachers(cfg, cfg.generators[1])[0]
    (weights / f"{teacher}.bin").write_bytes(b"v2")
    fake.calls.clear()
    run_bench(cfg, tmp_path / "ra", quiet=True)
    assert sum(c[0] == "synth" for c in fake.calls) == 2  # lis seeds 0 and 1, made again
    assert {p.name.rpartition("-")[0] for p in (tmp_path / "data" / "stale").iterdir()} == {"lis-hierarchical-s0", "lis-hierarchical-s1"}
    assert {r["generator"] for r in rows_of(tmp_path / "ra" / "results.stale.csv")} == {"lis-hierarchical"}
    fake.calls.clear()
    run_bench(load_bench_config(b), tmp_path / "rb", quiet=True)  # its rows are stale too, its datasets already remade
    assert not any(c[0] == "synth" for c in fake.calls) and sum(c[0] == "quantize" for c in fake.calls) == 3
    assert len(list((tmp_path / "data" / "stale").iterdir())) == 2


def test_rows_on_datasets_made_before_a_synthesis_change_are_measured_again(recipe, tmp_path, fake, monkeypatch):
    from lisq.bench.runner import describe_plan
    from lisq.school import revision

    a, b = run_two_recipes_sharing_data(recipe, tmp_path)
    assert "synthesized before" not in describe_plan(load_bench_config(a), tmp_path / "ra")
    # a code change that alters what the hierarchical sampler's configs yield, and nothing else
    change = revision.Change(revision.REVISION + 1, "a test change", lambda s: s.get("sampler") == "hierarchical")
    monkeypatch.setattr(revision, "CHANGES", (*revision.CHANGES, change))
    monkeypatch.setattr(revision, "REVISION", change.revision)
    text = describe_plan(load_bench_config(a), tmp_path / "ra")
    assert "a test change): lis-hierarchical-s0, lis-hierarchical-s1; 6 done cells of them run again" in text
    assert "2 to synthesize" in text
    fake.calls.clear()
    run_bench(load_bench_config(a), tmp_path / "ra", quiet=True)
    assert sum(c[0] == "synth" for c in fake.calls) == 2 and sum(c[0] == "quantize" for c in fake.calls) == 6
    assert {r["generator"] for r in rows_of(tmp_path / "ra" / "results.stale.csv")} == {"lis-hierarchical"}
    assert len(rows_of(tmp_path / "ra" / "results.csv")) == 12  # gaussian's rows kept, lis's measured again
    assert {p.name.rpartition("-")[0] for p in (tmp_path / "data" / "stale").iterdir()} == {"lis-hierarchical-s0", "lis-hierarchical-s1"}
    records = [json.loads(line) for line in (tmp_path / "ra" / "synthesis.jsonl").read_text().splitlines()]
    assert {r["synth_revision"] for r in records} == {change.revision}
    assert len((tmp_path / "ra" / "synthesis.stale.jsonl").read_text().splitlines()) == 2
    fake.calls.clear()
    run_bench(load_bench_config(b), tmp_path / "rb", quiet=True)  # its rows are outdated too, its datasets remade
    assert not any(c[0] == "synth" for c in fake.calls) and sum(c[0] == "quantize" for c in fake.calls) == 3
    fake.calls.clear()
    run_bench(load_bench_config(a), tmp_path / "ra", quiet=True)
    run_bench(load_bench_config(b), tmp_path / "rb", quiet=True)
    assert not any(c[0] in ("synth", "quantize") for c in fake.calls)  # settled: nothing runs again
