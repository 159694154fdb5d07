"""Config validation in one place (bgs.constraints): every field of every ``bgs train`` section
has a constraint, and a bad value is one ConfigError naming the key, the value and what is
allowed — from TOML, from ``--set`` and from the command line."""

import dataclasses

import pytest

from bgs.behavior.config import BehaviorConfig
from bgs.constraints import Interval, OfType, Options, check
from bgs.errors import ConfigError
from bgs.objectives import ObjectiveConfig
from bgs.study.garcia2025 import StudyConfig
from bgs.train.config import DataConfig, LoraSettings, ModelConfig, OptimConfig, RunConfig, TargetConfig, TrainConfig

SECTIONS = [DataConfig, LoraSettings, ModelConfig, TargetConfig, OptimConfig, RunConfig,
            ObjectiveConfig, BehaviorConfig, StudyConfig]


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda c: c.__name__)
def test_every_field_has_a_constraint_and_the_defaults_meet_them(cls):
    nested = {f.name for f in dataclasses.fields(cls) if dataclasses.is_dataclass(getattr(cls(), f.name))}
    assert {f.name for f in dataclasses.fields(cls)} - nested == set(cls.CONSTRAINTS)
    check(cls())


@pytest.mark.parametrize("assignment, message", [
    ("optim.lr=abc", "optim.lr = 'abc' is not allowed; it must be a number in (0, inf)"),
    ("optim.lr=0", "optim.lr = 0 is not allowed"),
    ("optim.epochs=2.5", "optim.epochs = 2.5 is not allowed; it must be an integer in [1, inf)"),
    ("optim.select=\"best\"", "optim.select = 'best' is not allowed; it must be one of val_rsa, last"),
    ("run.amp=1", "run.amp = 1 is not allowed; it must be true or false"),
    ("run.seed=-1", "run.seed = -1"),
    ("run.eval_bootstrap=true", "run.eval_bootstrap = True"),
    ("data.val_fraction=1", "data.val_fraction = 1 is not allowed; it must be a number in (0, 1)"),
    ("data.resize=\"zoom\"", "data.resize = 'zoom' is not allowed; it must be one of crop, squash"),
    ("model.lora.r=0", "model.lora.r = 0"),
    ("model.attention=\"flash\"", "model.attention = 'flash'"),
    ("model.head_init=\"zeros\"", "model.head_init = 'zeros' is not allowed; it must be one of random, geometry"),
    ("optim.score_every=0", "optim.score_every = 0 is not allowed; it must be an integer in [1, inf)"),
    ("objective.margin=-1", "objective.margin = -1"),
    ("behavior.format=\"csv\"", "behavior.format = 'csv'"),
])
def test_a_bad_value_names_key_value_and_allowed(assignment, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig().override([assignment])
    assert message in str(info.value)


def test_a_study_setting_is_checked_the_same_way():
    with pytest.raises(ConfigError, match=r"study.caption_pool = 'all' is not allowed; it must be one of first, mean"):
        StudyConfig(caption_pool="all").validate()
    with pytest.raises(ConfigError, match="study.text_models = .*bert.* is not allowed; it must be a list, each"):
        StudyConfig(text_models=("bert",)).validate()


def test_set_keeps_the_quotes_of_the_value():
    cfg = TrainConfig().override(['data.triplets="it\'s here.csv"', "data.stimuli=a'b.csv"])
    assert cfg.data.triplets == "it's here.csv" and cfg.data.stimuli == "a'b.csv"


def test_the_command_line_keeps_quotes_and_refuses_bad_values(tmp_path, capsys):
    from bgs.cli import main

    toml = tmp_path / "c.toml"
    toml.write_text('[model]\nbackbone = "text:minilm"\n')
    assert main(["train", str(toml), "--set", "optim.lr=abc", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr()
    assert "optim.lr = 'abc'" in err.err + err.out and "Traceback" not in err.err
    # a quote in a --set value reaches the config as written (here: a file that is not there)
    assert main(["train", str(toml), "--set", "data.stimuli=\"it's.csv\"", "--set",
                 "data.triplets=\"t.csv\"", "--objective", "triplet", "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr()
    assert "it's.csv" in err.err + err.out


def test_constraint_kinds():
    assert Interval(int, 0, None).accepts(0) and not Interval(int, 0, None).accepts(True)
    assert not Interval(float, 0, 1, closed="neither").accepts(1.0)
    assert not Interval(float, None, None).accepts(float("nan"))
    assert Interval(float, 0, None).accepts(3)  # an int where a float is asked
    assert Options("a", "b").accepts("a") and not Options("a").accepts(["a"])
    assert OfType(list, tuple).accepts(()) and not OfType(int).accepts(False)
