"""Distillation: a teacher's per-token distributions in the corpus, mixed into the student's target."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import NumpyOps
from typer.testing import CliRunner

from spacy_bert_ner.cli import app
from spacy_bert_ner.distillation import (
    TEACHER_KEY, TeacherError, attach_teacher_probs, teacher_rows, write_teacher_corpus,
)
from spacy_bert_ner.losses import MISSING, masked_cross_entropy

from .conftest import TRAIN_SENTENCES, build_pipeline, gold_doc, make_examples

OPS = NumpyOps()
TAGS = ["O", "B-PER", "I-PER"]


def _probs(rows):
    return OPS.asarray2f(numpy.asarray(rows, dtype="float32"))


def test_soft_weight_mixes_the_teacher_into_the_gradient():
    probs = [_probs([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])]
    golds = [numpy.asarray([0, 1, MISSING])]
    teacher = [numpy.asarray([[0.5, 0.5, 0.0], [numpy.nan] * 3, [0.0, 0.0, 1.0]], dtype="float32")]
    loss, (d,) = masked_cross_entropy(OPS, probs, golds, soft_targets=teacher, soft_weight=0.5)
    target_0 = 0.5 * numpy.asarray([1, 0, 0]) + 0.5 * teacher[0][0]  # mixed
    target_1 = numpy.asarray([0, 1, 0])  # no teacher row: the gold alone
    numpy.testing.assert_allclose(d[0], (probs[0][0] - target_0) / 2, rtol=1e-6)
    numpy.testing.assert_allclose(d[1], (probs[0][1] - target_1) / 2, rtol=1e-6)
    numpy.testing.assert_array_equal(d[2], 0.0)  # gold unknown: masked, teacher or not
    expected = -(target_0 * numpy.log(probs[0][0])).sum() - numpy.log(0.8)
    assert loss == pytest.approx(expected / 2, rel=1e-5)


def test_a_teacher_equal_to_the_gold_changes_nothing():
    probs = [_probs([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])]
    golds = [numpy.asarray([0, 1])]
    one_hot = [numpy.eye(3, dtype="float32")[[0, 1]]]
    plain = masked_cross_entropy(OPS, probs, golds)
    mixed = masked_cross_entropy(OPS, probs, golds, soft_targets=one_hot, soft_weight=0.7)
    assert mixed[0] == pytest.approx(plain[0], rel=1e-6)
    numpy.testing.assert_allclose(mixed[1][0], plain[1][0], rtol=1e-6)


def test_teacher_rows_follow_the_alignment_and_the_students_tag_order():
    nlp = spacy.blank("en")
    reference = Doc(nlp.vocab, words=["New", "York", "rocks"])
    attach_teacher_probs(reference, ["O", "B-LOC", "I-LOC"], numpy.asarray(
        [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.9, 0.05, 0.05]], dtype="float32"))
    predicted = Doc(nlp.vocab, words=["New", "York", "rock", "s"])  # the last word split in two
    rows = teacher_rows(Example(predicted, reference), ["B-LOC", "I-LOC", "O"])
    numpy.testing.assert_allclose(rows[:2], [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]], atol=1e-3)
    assert numpy.isnan(rows[2:]).all()


def test_missing_teacher_targets_are_named():
    nlp = spacy.blank("en")
    example = make_examples(nlp)[0]
    with pytest.raises(TeacherError, match="has no teacher targets.*teacher-targets"):
        teacher_rows(example, TAGS)


def test_a_teacher_without_the_students_labels_is_refused():
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["Peter"])
    attach_teacher_probs(doc, ["O", "B-PER"], numpy.asarray([[0.5, 0.5]], dtype="float32"))
    with pytest.raises(TeacherError, match=r"lack the student's \['I-PER'\]"):
        teacher_rows(Example(Doc(nlp.vocab, words=["Peter"]), doc), TAGS)


@pytest.fixture(scope="module")
def teacher_dir(tiny_bert_dir, tmp_path_factory):
    nlp = build_pipeline(tiny_bert_dir)
    nlp.initialize(lambda: make_examples(nlp))
    path = tmp_path_factory.mktemp("teacher") / "teacher"
    nlp.to_disk(path)
    return path


@pytest.fixture
def gold_corpus(tmp_path):
    nlp = spacy.blank("en")
    docs = [gold_doc(nlp, TRAIN_SENTENCES[:3]), gold_doc(nlp, TRAIN_SENTENCES[3:]), Doc(nlp.vocab, words=[])]
    path = tmp_path / "train.spacy"
    DocBin(docs=docs).to_disk(path)
    return path


def test_teacher_corpus_keeps_every_doc_and_its_gold(teacher_dir, gold_corpus, tmp_path):
    teacher = spacy.load(teacher_dir)
    out = tmp_path / "train_teacher.spacy"
    assert write_teacher_corpus(teacher, gold_corpus, out) == 3
    before = list(DocBin().from_disk(gold_corpus).get_docs(teacher.vocab))
    after = list(DocBin().from_disk(out).get_docs(teacher.vocab))
    assert len(after) == len(before)
    tags = teacher.get_pipe("token_classifier").tag_names
    for old, new in zip(before, after):
        assert [t.text for t in new] == [t.text for t in old]
        assert [(e.start, e.end, e.label_) for e in new.ents] == [(e.start, e.end, e.label_) for e in old.ents]
        rows = teacher_rows(Example(new.copy(), new), tags)
        assert rows.shape == (len(old), len(tags))
        numpy.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-2)


def test_temperature_below_one_sharpens(teacher_dir, gold_corpus, tmp_path):
    teacher = spacy.load(teacher_dir)
    tags = teacher.get_pipe("token_classifier").tag_names
    peaks = []
    for temperature in (1.0, 0.5):
        out = tmp_path / f"t{temperature}.spacy"
        write_teacher_corpus(teacher, gold_corpus, out, temperature=temperature)
        doc = next(DocBin().from_disk(out).get_docs(teacher.vocab))
        peaks.append(teacher_rows(Example(doc.copy(), doc), tags).max(axis=1).mean())
    assert peaks[1] > peaks[0]


def test_student_trains_on_the_teacher_corpus(tiny_bert_dir, teacher_dir, gold_corpus, tmp_path):
    teacher = spacy.load(teacher_dir)
    out = tmp_path / "train_teacher.spacy"
    write_teacher_corpus(teacher, gold_corpus, out)
    student = build_pipeline(tiny_bert_dir, distill_weight=0.5)
    docs = [d for d in DocBin().from_disk(out).get_docs(student.vocab) if len(d)]
    examples = [Example(student.make_doc(d.text), d) for d in docs]
    student.initialize(lambda: examples)
    assert TEACHER_KEY in docs[0].user_data
    head = student.get_pipe("token_classifier")
    scores = head.model.predict([student(eg.predicted.text) for eg in examples])
    mixed = head.get_loss(examples, scores)[0]
    head.distill_weight = 0.0
    assert head.get_loss(examples, scores)[0] != pytest.approx(mixed)
    head.distill_weight = 0.5
    losses = student.update(examples, sgd=student.resume_training())
    assert numpy.isfinite(losses["token_classifier"]) and losses["token_classifier"] > 0


def test_distill_weight_without_teacher_targets_stops_training(tiny_bert_dir):
    student = build_pipeline(tiny_bert_dir, distill_weight=0.5)
    student.initialize(lambda: make_examples(student))
    with pytest.raises(TeacherError, match="has no teacher targets"):
        student.update(make_examples(student), sgd=student.resume_training())


@pytest.mark.parametrize("settings, message", [
    ({"distill_weight": 1.5}, r"distill_weight: expected a value in \[0, 1\]"),
    ({"distill_weight": 0.5, "model": {"use_crf": True}}, "distill_weight = 0.5 with model.use_crf = true"),
])
def test_bad_distill_settings_are_refused(tiny_bert_dir, settings, message):
    with pytest.raises(ValueError, match=message):
        build_pipeline(tiny_bert_dir, **settings)


def test_cli_writes_the_teacher_corpus(teacher_dir, gold_corpus, tmp_path):
    out = tmp_path / "out.spacy"
    result = CliRunner().invoke(app, ["teacher-targets", str(teacher_dir), str(gold_corpus), str(out)])
    assert result.exit_code == 0, result.output
    assert "3 docs" in " ".join(result.output.split()) and out.is_file()


def test_cli_refuses_the_input_as_output(teacher_dir, gold_corpus):
    before = gold_corpus.read_bytes()
    result = CliRunner().invoke(app, ["teacher-targets", str(teacher_dir), str(gold_corpus), str(gold_corpus)])
    assert result.exit_code == 1 and "is the input" in " ".join(result.output.split())
    assert gold_corpus.read_bytes() == before


def test_cli_names_a_teacher_without_the_component(teacher_dir, gold_corpus, tmp_path):
    result = CliRunner().invoke(
        app, ["teacher-targets", str(teacher_dir), str(gold_corpus), str(tmp_path / "o.spacy"), "--component", "ner"]
    )
    assert result.exit_code == 1 and "no 'ner' component" in " ".join(result.output.split())
    assert not (tmp_path / "o.spacy").exists()
