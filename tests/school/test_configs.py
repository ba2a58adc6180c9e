from pathlib import Path

import yaml

from lisq.school import SynthConfig, default_school_path
from lisq.school.courses import school_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_configs_default_school_mirrors_the_package_file():
    ours = yaml.safe_load((ROOT / "configs" / "school_default.yaml").read_text())
    assert ours == yaml.safe_load(default_school_path().read_text())


def test_synth_config_yaml_round_trip_and_matches_defaults():
    cfg = SynthConfig.from_yaml(ROOT / "configs" / "synth_lis.yaml")
    assert cfg.resolved() == SynthConfig().resolved()
    assert SynthConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict()))) == cfg


def test_example_school_parses_structure(monkeypatch):
    import lisq.school.courses as courses
    from lisq.school.teacher import TeacherSpec

    monkeypatch.setattr(courses, "spec_from_reference", lambda ref, *a, **kw: TeacherSpec(name=kw.get("name") or ref, model=ref))
    school = school_from_dict(yaml.safe_load((ROOT / "configs" / "school_by_capacity.yaml").read_text()))
    assert [c.name for c in school.root.courses] == ["small", "large"]
    assert [c.name for c in school.root.courses[0].courses] == ["shallow-resnet", "plain"]
