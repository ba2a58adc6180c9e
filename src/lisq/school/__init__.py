"""The school: teachers, course tree + samplers, inversion losses and the one synthesis loop."""

from lisq.school.config import GENERATORS, SynthConfig
from lisq.school.courses import (
    Course,
    CourseSampler,
    School,
    default_school,
    default_school_path,
    load_school,
    school_from_dict,
    school_from_modules,
    school_from_names,
)
from lisq.school.hooks import BNStatsRecorder, bn_layers
from lisq.school.synth import derive_seed, synthesize
from lisq.school.teacher import Teacher, TeacherSpec

__all__ = [
    "BNStatsRecorder",
    "Course",
    "CourseSampler",
    "GENERATORS",
    "School",
    "SynthConfig",
    "Teacher",
    "TeacherSpec",
    "bn_layers",
    "default_school",
    "default_school_path",
    "derive_seed",
    "load_school",
    "school_from_dict",
    "school_from_modules",
    "school_from_names",
    "synthesize",
]
