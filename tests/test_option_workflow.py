"""project.yml's option runs (`tc-option`, `ner-option`) train what `all` trains, plus their overrides.

An option is chosen on dev against its head's default run, so everything but the output folder and
the `--set` overrides must match that run's command; a drifted schedule or encoder would make the
comparison meaningless without any run failing.
"""
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "project.yml").read_text(encoding="utf8"))
COMMANDS = {command["name"]: command for command in PROJECT["commands"]}
# (option prefix = its variable, default training command, option training, dev evaluation, test evaluation)
OPTIONS = [("tc_option", "train-tc", "train-tc-option", "evaluate-tc-option", "evaluate-tc-option-test"),
           ("ner_option", "train-ner", "train-ner-option", "evaluate-ner-option", "evaluate-ner-option-test")]


def _args(name: str) -> list:
    """The training command's arguments without its output folder and overrides."""
    args = shlex.split(" ".join(COMMANDS[name]["script"]))
    for flag in ("--output", "--set"):
        if flag in args:
            del args[args.index(flag):args.index(flag) + 2]
    return args


@pytest.mark.parametrize("var,default,train,dev,test", OPTIONS)
def test_an_option_run_is_its_heads_default_run_plus_overrides(var, default, train, dev, test):
    assert _args(train) == _args(default)
    script = shlex.split(" ".join(COMMANDS[train]["script"]))
    assert script[script.index("--set") + 1] == f"${{vars.{var}_overrides}}"
    assert script[script.index("--output") + 1] == f"training/${{vars.run}}/{var}_${{vars.{var}}}"
    assert {f"{var}", f"{var}_overrides"} <= set(PROJECT["vars"])
    assert PROJECT["workflows"][var.replace("_", "-")] == [train, dev]


@pytest.mark.parametrize("var,default,train,dev,test", OPTIONS)
def test_an_option_reaches_test_only_after_its_dev_report(var, default, train, dev, test):
    report = f"reports/${{vars.run}}/{var}_${{vars.{var}}}"
    assert COMMANDS[dev]["outputs"] == [f"{report}/dev_metrics.json"]
    assert "--split dev" in COMMANDS[dev]["script"][0] and "dev.spacy" in COMMANDS[dev]["script"][0]
    assert f"{report}/dev_metrics.json" in COMMANDS[test]["deps"]
    assert "--split test" in COMMANDS[test]["script"][0] and "test.spacy" in COMMANDS[test]["script"][0]
