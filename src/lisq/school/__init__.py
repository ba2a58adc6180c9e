"""The school: teachers, course tree + samplers, inversion losses and the one synthesis loop."""

from lisq.school.config import GENERATORS, GeneratorPreset, SynthConfig, register_generator
from lisq.school.courses import (
    SAMPLERS,
    Course,
    CourseSampler,
    School,
    default_school,
    default_school_path,
    load_school,
    register_sampler,
    school_from_dict,
    school_from_modules,
    school_from_names,
)
from lisq.school.hooks import BNStatsRecorder, bn_layers
from lisq.school.objective import TERMS, Term, register_term
from lisq.school.seeds import derive_seed
from lisq.school.synth import plan_synthesis, synthesize
from lisq.school.teacher import Teacher, TeacherSpec

__all__ = [
    "BNStatsRecorder",
    "Course",
    "CourseSampler",
    "GENERATORS",
    "GeneratorPreset",
    "SAMPLERS",
    "TERMS",
    "Term",
    "School",
    "SynthConfig",
    "Teacher",
    "TeacherSpec",
    "bn_layers",
    "default_school",
    "default_school_path",
    "derive_seed",
    "load_school",
    "plan_synthesis",
    "register_generator",
    "register_sampler",
    "register_term",
    "school_from_dict",
    "school_from_modules",
    "school_from_names",
    "synthesize",
]
