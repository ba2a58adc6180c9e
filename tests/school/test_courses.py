import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
import yaml

from lisq.errors import LisqError
from lisq.models import pretrained_path
from lisq.school.courses import CourseSampler, default_school, load_school, school_from_dict


def _school_courses(tiny_ref):
    return [
        {"name": "A", "teachers": [{"model": f"{tiny_ref}:tiny_a", "name": "a1"}, {"model": f"{tiny_ref}:tiny_a", "name": "a2"}]},
        {"name": "B", "teachers": [{"model": f"{tiny_ref}:tiny_b", "name": "b"}]},
        {"name": "C", "weight": 2.0, "courses": [{"name": "C1", "teachers": [{"model": f"{tiny_ref}:tiny_c", "name": "c"}]}]},
    ]


def _school(tiny_ref, weights=None):
    return school_from_dict({"name": "t", "courses": _school_courses(tiny_ref)})


def _frequencies(sampler, school, draws=4000):
    rng = np.random.default_rng(0)
    counts = Counter()
    for _ in range(draws):
        counts.update(school.teachers[i].name for i in sampler.draw(school, rng))
    return {k: v / draws for k, v in counts.items()}


def test_hierarchical_k1_follows_course_weights_then_uniform(tiny_ref):
    school = _school(tiny_ref)
    f = _frequencies(CourseSampler("hierarchical", k=1), school)
    # course weights A:B:C = 1:1:2; inside A uniform over two teachers
    assert f["a1"] == pytest.approx(0.125, abs=0.02) and f["a2"] == pytest.approx(0.125, abs=0.02)
    assert f["b"] == pytest.approx(0.25, abs=0.025)
    assert f["c"] == pytest.approx(0.5, abs=0.03)


def test_hierarchical_k2_draws_distinct_courses(tiny_ref):
    school = _school(tiny_ref)
    sampler = CourseSampler("hierarchical", k=2)
    rng = np.random.default_rng(1)
    for _ in range(200):
        names = [school.teachers[i].name for i in sampler.draw(school, rng)]
        assert len(names) == 2
        assert not ({"a1", "a2"} <= set(names))  # never two teachers of one course


def test_uniform_all_single(tiny_ref):
    school = _school(tiny_ref)
    f = _frequencies(CourseSampler("uniform", k=2), school)
    for name in ("a1", "a2", "b", "c"):
        assert f[name] == pytest.approx(0.5, abs=0.03)
    rng = np.random.default_rng(0)
    assert CourseSampler("all").draw(school, rng) == [0, 1, 2, 3]
    assert CourseSampler("single", teacher="b").draw(school, rng) == [2]
    assert CourseSampler("single").draw(school, rng) == [0]


def test_resample_every_r_iterations(tiny_ref):
    school = _school(tiny_ref)
    segments = CourseSampler("hierarchical", k=1, resample_every=10).schedule(school, np.random.default_rng(0), 35)
    assert [s for s, _ in segments] == [0, 10, 20, 30]
    assert len(CourseSampler("hierarchical", k=1).schedule(school, np.random.default_rng(0), 35)) == 1


def test_unknown_sampler():
    with pytest.raises(LisqError, match="unknown sampler"):
        CourseSampler("random")


@pytest.mark.parametrize(
    "data, message",
    [
        ({"courses": [{"name": "x", "teachers": ["resnet8"], "colour": 1}]}, "unknown key 'colour'"),
        ({"courses": [{"name": "x", "teachers": ["resnet99"]}]}, "unknown model 'resnet99'"),
        ({"courses": [{"name": "x", "teachers": [{"model": "resnet8", "weights": "nope.safetensors"}]}]}, "does not exist"),
        ({"courses": [{"name": "x", "teachers": []}]}, "has no teachers"),
        ({"courses": [{"name": "x", "teachers": [{"model": "nofile.py:f"}]}]}, "does not exist"),
    ],
)
def test_bad_school_one_line(tmp_path, data, message):
    path = tmp_path / "school.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LisqError, match=message) as info:
        load_school(path)
    assert "\n" not in str(info.value)


def test_mismatched_class_counts(tmp_path, tiny_ref):
    data = {"courses": [{"name": "x", "teachers": [{"model": f"{tiny_ref}:tiny_a"}, {"model": f"{tiny_ref}:tiny_5class", "num_classes": 5}]}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LisqError, match="different label spaces"):
        load_school(path)


def test_same_class_count_from_two_datasets_is_refused(tmp_path, tiny_ref):
    """A Fashion-MNIST teacher and a CIFAR-10 teacher both have 10 classes: still two label spaces."""
    data = {"courses": [{"name": "x", "teachers": [
        {"model": f"{tiny_ref}:tiny_a"},
        {"model": f"{tiny_ref}:tiny_a", "name": "c10", "dataset": "cifar10", "channels": 3}]}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LisqError, match="different label spaces.*c10=cifar10/10") as info:
        load_school(path)
    assert "\n" not in str(info.value)


def test_missing_shipped_weights_for_registry_name(monkeypatch, tmp_path):
    import lisq.models
    import lisq.models.registry as registry

    monkeypatch.setattr(registry, "pretrained_path", lambda name, dataset=None: None)
    monkeypatch.setattr(lisq.models, "pretrained_path", lambda name, dataset=None: None)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"courses": [{"name": "r", "teachers": ["resnet8"]}]}))
    with pytest.raises(LisqError, match="no shipped weights"):
        load_school(path)


def test_declared_classes_checked_against_model_output(tmp_path, tiny_ref):
    from lisq.data import FASHION_MNIST_SPEC
    from lisq.school.teacher import Teacher

    school = school_from_dict({"courses": [{"name": "x", "teachers": [{"model": f"{tiny_ref}:tiny_5class"}]}]})
    with pytest.raises(LisqError, match="outputs \\(5,\\) logits but the school has 10"):
        Teacher(school.teachers[0], FASHION_MNIST_SPEC)


def test_weights_relative_to_yaml(tmp_path, tiny_ref):
    sys.path.insert(0, str(tmp_path))
    from safetensors.torch import save_file
    from tiny_models import tiny_a

    save_file(tiny_a().state_dict(), str(tmp_path / "a.safetensors"))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"courses": [{"name": "x", "teachers": [{"model": f"{tiny_ref}:tiny_a", "weights": "a.safetensors"}]}]}))
    school = load_school(tmp_path / "s.yaml")
    assert school.teachers[0].weights == str(tmp_path / "a.safetensors")
    model = school.teachers[0].build()
    assert torch.equal(model.fc.weight, tiny_a().fc.weight)


def test_bad_school_cli_exit_2(tmp_path):
    path = tmp_path / "school.yaml"
    path.write_text(yaml.safe_dump({"courses": [{"name": "x", "teachers": ["resnet8"], "oops": 1}]}))
    proc = subprocess.run(
        [sys.executable, "-m", "lisq", "synth", "--school", str(path), "--out", str(tmp_path / "o"), "--num-images", "2", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown key 'oops'" in proc.stderr


@pytest.mark.skipif(any(pretrained_path(n) is None for n in ("resnet8", "resnet20", "vgg7", "mobilenetv2_100", "densenet_s", "plaincnn")),
                    reason="shipped weights not trained yet")
def test_default_school_holds_out_judges():
    school = default_school()
    names = set(school.names())
    assert not names & {"mobilenetv2_050", "resnet14", "shufflenetv2_s"}
    assert len(names) >= 6 and len(school.root.courses) >= 3


@pytest.mark.parametrize("outside", ["resnet20a", "resnet32a"])
def test_cifar10_schools_with_an_outside_teacher_are_the_default_plus_that_teacher(outside):
    """configs/school_cifar10_plus_*.yaml copy the default CIFAR-10 school: they must follow it as it grows."""
    from pathlib import Path

    from lisq.school.courses import default_school_path

    root = Path(__file__).resolve().parents[2] / "configs"
    default = yaml.safe_load(default_school_path("cifar10").read_text())
    plus = yaml.safe_load((root / f"school_cifar10_plus_{outside}.yaml").read_text())
    for course in default["courses"]:
        if course["name"] == "resnet":
            course["teachers"] = course["teachers"] + [f"{outside}.cifar10"]
    assert plus["courses"] == default["courses"] and plus["dataset"] == "cifar10"
    always = yaml.safe_load((root / f"school_cifar10_always_{outside}.yaml").read_text())
    assert always["courses"] == yaml.safe_load(default_school_path("cifar10").read_text())["courses"]
    assert always["always"] == [f"{outside}.cifar10"] and always["dataset"] == "cifar10"


def test_always_teachers_join_every_draw_and_leave_the_other_draws_as_they_were(tiny_ref):
    plain = _school(tiny_ref)
    school = plain.with_always(school_from_dict({"courses": [{"name": "me", "teachers": [
        {"model": f"{tiny_ref}:tiny_d", "name": "me"}]}]}).teachers)
    me = school.index("me")
    assert school.always == [me] and school.drawable() == [0, 1, 2, 3]
    assert school.to_dict()["always"][0]["name"] == "me"  # config.yaml records it
    courses = yaml.safe_load(yaml.safe_dump(_school_courses(tiny_ref)))
    from_yaml = school_from_dict({"name": "t", "courses": courses, "always": [{"model": f"{tiny_ref}:tiny_d", "name": "me"}]})
    assert from_yaml.to_dict() == school.to_dict()  # a school file's `always:` is the same school
    for kind, kw in (("uniform", {"k": 2}), ("hierarchical", {"k": 2}), ("single", {"teacher": "b"}), ("all", {})):
        sampler = CourseSampler(kind, **kw)
        with_me, without = np.random.default_rng(3), np.random.default_rng(3)
        for _ in range(50):
            got, base = sampler.draw(school, with_me), sampler.draw(plain, without)
            assert got == sorted({*base, me})  # the same draw as without it, plus it
    f = _frequencies(CourseSampler("uniform", k=2), school)
    assert f["me"] == 1.0 and f["a1"] == pytest.approx(0.5, abs=0.03)  # never drawn out of the pool as well


def test_add_teachers_joins_the_default_school_and_is_refused_where_it_cannot(tiny_ref, outside_resnet20a):
    from tiny_models import tiny_c

    from lisq.school import SynthConfig
    from lisq.school.synth import plan_synthesis

    _, school = plan_synthesis(SynthConfig(dataset="cifar10", sampler="uniform"), add_teachers="resnet20a.cifar10")
    assert school.names() == default_school("cifar10").names() + ["resnet20a.cifar10"]
    assert [school.teachers[i].name for i in school.always] == ["resnet20a.cifar10"]
    _, school = plan_synthesis(SynthConfig(), add_teachers=[tiny_c()])  # a Python module, Fashion-MNIST's school
    assert len(school.always) == 1 and school.teachers[school.always[0]].name == f"TinyNet_{len(default_school().teachers)}"
    for twin in ("resnet20.cifar10", "resnet20"):  # the same weights, named with or without the dataset
        with pytest.raises(LisqError, match="already a teacher of school .*as 'resnet20.cifar10'"):
            plan_synthesis(SynthConfig(dataset="cifar10"), add_teachers=twin)
    with pytest.raises(LisqError, match="uses no teachers"):
        plan_synthesis(SynthConfig(generator="gaussian"), add_teachers="resnet20.cifar10")
    with pytest.raises(LisqError, match="different label spaces"):
        plan_synthesis(SynthConfig(dataset="cifar10"), add_teachers="resnet20.fmnist")  # a Fashion-MNIST model
