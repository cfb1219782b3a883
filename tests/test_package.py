"""`spacy package` of a trained token_classifier pipeline, installed into a fresh venv.

The wheel is built from the package folder `spacy package` writes (`--build
none`), with `pip wheel --no-build-isolation --no-index`: `spacy package --build
wheel` would run `python -m build`, which needs the `build` package and, for its
isolated build environment, the network. The fresh venv has no packages of its
own; a `.pth` file lets it see this environment's installed packages (spaCy,
torch, spacy_bert_ner...), so `pip install --no-index` of the wheel must find
every requirement the package declares already satisfied, and `spacy.load` in
that venv's interpreter must find the `token_classifier` factory through entry
points alone (no `--code`, no import). The meta comes from `package-meta`
(`--meta-path`, as project.yml's `package` does): the installed `nlp.meta`
carries its name, version, description, license, sources and test figures.
"""
import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Dict, List

import pytest
import spacy

from spacy_bert_ner.evaluation.records import METRICS_SCHEMA

from .conftest import SENTENCE_WINDOWS, TRAIN_SENTENCES, build_pipeline, make_examples

PACKAGE_NAME = "bert_ner_pkgtest"
VERSION = "0.0.1"


def run(args: List[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def trained_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    nlp = build_pipeline(tiny_bert_dir, get_spans=SENTENCE_WINDOWS)  # its getter loads by entry point
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.003
    for _ in range(20):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp("trained") / "pipeline"
    nlp.to_disk(path)
    return path


@pytest.mark.slow
def test_spacy_package_wheel_installs_and_loads_in_a_fresh_venv(trained_dir, tmp_path):
    packages = tmp_path / "packages"
    packages.mkdir()
    metrics = tmp_path / "test_metrics.json"
    metrics.write_text(json.dumps({
        "schema": METRICS_SCHEMA, "split": "test", "data": {"path": "corpus/x/test.spacy", "n_docs": 3},
        "headline": {"precision": 0.5, "recall": 0.25, "f1": 0.3333},
        "seqeval": {"default": {"precision": 0.5, "recall": 0.3, "f1": 0.375},
                    "strict": {"precision": 0.4, "recall": 0.2, "f1": 0.2667}},
    }))
    meta_path = tmp_path / "meta.json"
    run([sys.executable, "-m", "spacy_bert_ner", "package-meta", str(trained_dir), str(meta_path),
         "--metrics", str(metrics), "--name", PACKAGE_NAME, "--version", VERSION, "--license", "mit",
         "--dataset", "conll2003", "--base-model", "sentence-transformers/all-MiniLM-L6-v2"])
    run([sys.executable, "-m", "spacy", "package", str(trained_dir), str(packages),
         "--name", PACKAGE_NAME, "--version", VERSION, "--meta-path", str(meta_path), "--build", "none"])
    package_dir = packages / f"en_{PACKAGE_NAME}-{VERSION}"
    meta = json.loads((package_dir / "meta.json").read_text())
    requirements: Dict[str, str] = {}
    for requirement in meta["requirements"]:
        name = requirement.split(">")[0].split("<")[0].split("=")[0]
        requirements[name] = requirement
    # detected from the registered functions in config.cfg: our factory and architectures
    assert requirements["spacy_bert_ner"] == "spacy_bert_ner>=0.1.0,<0.2.0"
    assert "spacy-transformers" in requirements
    assert not (package_dir / f"en_{PACKAGE_NAME}" / "spacy_bert_ner").exists()

    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(dist), str(package_dir)])
    (wheel,) = dist.glob("*.whl")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    venv_site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    our_site = sysconfig.get_paths()["purelib"]
    (Path(venv_site) / "_outer_env.pth").write_text(f"import site; site.addsitedir({our_site!r})\n")
    run([str(python), "-m", "pip", "install", "--no-index", "--find-links", str(dist), str(wheel)])

    texts = [text for text, _ in TRAIN_SENTENCES]
    code = (
        "import json, sys, spacy\n"
        f"nlp = spacy.load({'en_' + PACKAGE_NAME!r})\n"
        f"import en_{PACKAGE_NAME} as package\n"
        "docs = nlp.pipe(json.loads(sys.argv[1]))\n"
        "print(json.dumps({'file': package.__file__, 'pipes': nlp.pipe_names, 'meta': nlp.meta,\n"
        "    'ents': [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]}))\n"
    )
    result = run([str(python), "-c", code, json.dumps(texts)], cwd=tmp_path)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["file"].startswith(venv_site)
    assert loaded["pipes"] == ["transformer", "token_classifier"]
    installed = loaded["meta"]
    assert (installed["name"], installed["version"], installed["license"]) == (PACKAGE_NAME, VERSION, "mit")
    assert "token_classifier" in installed["description"] and "CoNLL-2003" in installed["description"]
    assert [source["name"] for source in installed["sources"]] == ["CoNLL-2003", "sentence-transformers/all-MiniLM-L6-v2"]
    assert installed["performance"]["ents_f"] == pytest.approx(0.3333)
    assert installed["performance"]["seqeval_strict_f"] == pytest.approx(0.2667)
    assert "ents_p" in installed["performance"] and "test split" in installed["notes"]
    nlp = spacy.load(trained_dir)
    expected = [[[e.start, e.end, e.label_] for e in doc.ents] for doc in nlp.pipe(texts)]
    assert loaded["ents"] == expected
    assert sum(map(len, expected)) >= 5
