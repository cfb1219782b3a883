"""project.yml's encoder-size and distillation steps hang together: what each reads, another writes.

`encoder-size` takes hours (mpnet on a CPU) and `distill` more; this checks their wiring in
milliseconds: names, paths, variables, and that the curated results and benchmark read their rows.
"""
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "project.yml").read_text(encoding="utf8"))
COMMANDS = {command["name"]: command for command in PROJECT["commands"]}
SIZE_REPORTS = [f"reports/${{vars.run}}-size-{size}/{head}/test_metrics.json"
                for size in ("large", "small") for head in ("ner", "token_classifier")]
TEACHER = "corpus/${vars.run}/train_teacher.spacy"


def _script(name: str) -> str:
    return " ".join(COMMANDS[name]["script"])


def _options(name: str, option: str) -> list:
    return [value for key, value in re.findall(rf"({option}) (\S+)", _script(name))]


def test_the_workflows_name_existing_commands():
    for workflow in ("encoder-size", "distill"):
        assert PROJECT["workflows"][workflow], workflow
        assert [n for n in PROJECT["workflows"][workflow] if n not in COMMANDS] == [], workflow
    assert PROJECT["workflows"]["encoder-size"] == ["size-large", "size-small", "teacher-targets", "distill-short",
                                                   "encoder-size-report"]
    assert PROJECT["workflows"]["distill"] == ["teacher-targets", "distill-screen"]


def test_size_runs_share_the_schedule_and_differ_in_the_encoder():
    large, small = _script("size-large"), _script("size-small")
    assert "--vars.encoder ${vars.size_encoder}" in large and "--vars.encoder ${vars.encoder}" in small
    for script in (large, small):
        assert "--vars.max_steps ${vars.size_max_steps}" in script
        assert "--vars.eval_frequency ${vars.size_eval_frequency}" in script
    outputs = COMMANDS["size-large"]["outputs"] + COMMANDS["size-small"]["outputs"]
    assert sorted(SIZE_REPORTS) == sorted(o for o in outputs if o.endswith("test_metrics.json"))


def test_the_size_report_and_results_read_what_the_size_runs_write():
    student = "reports/${vars.run}-size-small/tc_option_distill05/test_metrics.json"
    assert student in COMMANDS["distill-short"]["outputs"]
    systems = _options("encoder-size-report", "--system")
    assert sorted(f"{value.split('=', 1)[1]}/test_metrics.json" for value in systems) == sorted(SIZE_REPORTS + [student])
    assert sorted(COMMANDS["encoder-size-report"]["deps"]) == sorted(SIZE_REPORTS + [student])
    heads = dict(value.split("=", 1) for value in _options("results", "--head"))
    commands = {value.split("=", 1)[0].strip('"') for value in _options("results", "--command")}
    size_rows = {name: folder for name, folder in heads.items() if "-size-" in folder}
    assert len(size_rows) == 4 and set(size_rows) <= commands
    assert sorted(f"{folder}/test_metrics.json" for folder in size_rows.values()) == sorted(SIZE_REPORTS)
    assert set(SIZE_REPORTS) <= set(COMMANDS["results"]["deps"])


def test_the_benchmark_times_the_larger_encoder_it_depends_on():
    folders = [value.split("=", 1)[1] for value in _options("benchmark", "--pipeline")]
    assert sorted(folders) == sorted(f"training/${{vars.run}}-size-large/{h}/model-best"
                                     for h in ("ner", "token_classifier"))
    assert set(folders) <= set(COMMANDS["benchmark"]["deps"])


def test_students_train_on_the_teachers_corpus():
    assert COMMANDS["teacher-targets"]["outputs"] == [TEACHER]
    teacher = shlex.split(_script("teacher-targets"))
    assert teacher[teacher.index("teacher-targets") + 1] == "training/${vars.run}-size-large/token_classifier/model-best"
    assert teacher[teacher.index("teacher-targets") + 1] in COMMANDS["teacher-targets"]["deps"]
    for name in ("distill-screen", "distill-short"):
        assert TEACHER in COMMANDS[name]["deps"], name
        overrides = [shlex.split(line)[shlex.split(line).index("--vars.tc_option_overrides") + 1]
                     for line in COMMANDS[name]["script"] if "--vars.tc_option_overrides" in line]
        assert overrides and all(f"paths.train={TEACHER}" in o and "distill_weight=0.5" in o for o in overrides)
    assert "--vars.max_steps ${vars.size_max_steps}" in _script("distill-short")


def test_every_variable_the_size_commands_use_exists():
    names = ("size-large", "size-small", "encoder-size-report", "teacher-targets", "distill-screen",
             "distill-short", "results", "benchmark")
    text = " ".join(" ".join(COMMANDS[n]["script"] + COMMANDS[n].get("deps", []) + COMMANDS[n].get("outputs", []))
                    for n in names)
    assert set(re.findall(r"\$\{vars\.(\w+)\}", text)) - set(PROJECT["vars"]) == set()
