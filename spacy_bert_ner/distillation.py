"""Knowledge distillation for the token_classifier: a teacher's per-token distributions as soft targets.

A trained teacher pipeline (a larger encoder's token_classifier) labels the
training corpus once: :func:`write_teacher_corpus` keeps every Doc's gold
annotation and adds, in ``Doc.user_data``, the teacher's probability of each
IOB2 class for each token. A student trained on that corpus with
``distill_weight = w`` learns from ``(1 - w) * gold + w * teacher`` per token
(:func:`spacy_bert_ner.losses.masked_cross_entropy`). The targets are computed
once, not in the training loop, because the teacher's forward pass would cost
several times the student's step.
"""
from pathlib import Path
from typing import Iterable, Iterator, List, Sequence, Union

import numpy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import minibatch

from .losses import PROB_FLOOR

TEACHER_KEY = "spacy_bert_ner.teacher"


class TeacherError(ValueError):
    """Teacher targets that cannot be used: missing, for other tokens, or for other labels."""


def attach_teacher_probs(doc: Doc, tags: Sequence[str], probs: numpy.ndarray) -> None:
    """Store ``probs`` (tokens x ``tags``) in ``doc.user_data`` as float16 (DocBin-serializable)."""
    if probs.shape != (len(doc), len(tags)):
        raise TeacherError(f"teacher probabilities of shape {probs.shape} for {len(doc)} tokens and {len(tags)} tags")
    doc.user_data[TEACHER_KEY] = {
        "tags": list(tags), "shape": list(probs.shape), "probs": probs.astype("float16").tobytes()
    }


def teacher_rows(example: Example, tag_names: Sequence[str]) -> numpy.ndarray:
    """The teacher's distribution for each predicted token, in ``tag_names`` order.

    Rows are NaN for predicted tokens that do not align one-to-one with a
    reference token (the loss uses the gold label alone there): the teacher's
    B-X for a word is not the right target for both halves of it.
    """
    reference = example.reference
    data = reference.user_data.get(TEACHER_KEY)
    if data is None:
        raise TeacherError(
            f"distill_weight > 0 but a training Doc has no teacher targets ({reference.text[:40]!r}...); "
            "train on the corpus written by `python -m spacy_bert_ner teacher-targets`"
        )
    probs = numpy.frombuffer(data["probs"], dtype="float16").reshape(data["shape"]).astype("float32")
    if probs.shape[0] != len(reference):
        raise TeacherError(f"teacher targets for {probs.shape[0]} tokens on a Doc of {len(reference)} tokens")
    missing = [tag for tag in tag_names if tag not in data["tags"]]
    if missing:
        raise TeacherError(f"the teacher's labels {data['tags']} lack the student's {missing}")
    probs = probs[:, [data["tags"].index(tag) for tag in tag_names]]
    rows = numpy.full((len(example.predicted), len(tag_names)), numpy.nan, dtype="float32")
    x2y, y2x = example.alignment.x2y, example.alignment.y2x
    single = numpy.flatnonzero(numpy.asarray(x2y.lengths) == 1)
    targets = numpy.asarray(x2y.data)[numpy.asarray(x2y.starts)[single]]
    whole = numpy.asarray(y2x.lengths)[targets] == 1  # not a piece of a reference token split in two
    rows[single[whole]] = probs[targets[whole]]
    return rows


def teacher_probs(teacher: Language, docs: List[Doc], component: str, temperature: float) -> List[numpy.ndarray]:
    """The teacher component's per-token distributions for ``docs`` (already run through ``teacher``)."""
    pipe = teacher.get_pipe(component)
    if getattr(pipe, "use_crf", True):
        raise TeacherError(
            f"{component!r} is not a token_classifier without CRF: a CRF's emission scores are not "
            "per-token distributions to learn from"
        )
    outputs = []
    for scores in pipe.model.predict(docs):
        probs = numpy.asarray(pipe.model.ops.to_numpy(scores), dtype="float64")
        if temperature != 1.0:  # softmax(logits / T) = p ** (1 / T), renormalized
            probs = numpy.power(numpy.clip(probs, PROB_FLOOR, None), 1.0 / temperature)
            probs /= probs.sum(axis=1, keepdims=True)
        outputs.append(probs.astype("float32"))
    return outputs


def label_with_teacher(
    teacher: Language, gold_docs: Iterable[Doc], *, component: str = "token_classifier",
    temperature: float = 1.0, batch_size: int = 32,
) -> Iterator[Doc]:
    """Each gold Doc, unchanged but for its teacher targets (one output per input, in order).

    The teacher reads a copy with the gold Doc's words, spaces and sentence
    starts, so its windows are the ones evaluation with sentences gives it.
    """
    if temperature <= 0:
        raise TeacherError(f"temperature: expected a value > 0, got {temperature!r}")
    tags = teacher.get_pipe(component).tag_names
    for batch in minibatch(gold_docs, batch_size):
        copies = [_copy_words(teacher, doc) for doc in batch]
        processed = list(teacher.pipe(copies))
        for doc, probs in zip(batch, teacher_probs(teacher, processed, component, temperature)):
            attach_teacher_probs(doc, tags, probs)
            yield doc


def _copy_words(nlp: Language, doc: Doc) -> Doc:
    starts = [token.is_sent_start for token in doc] if doc.has_annotation("SENT_START") else None
    return Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc], sent_starts=starts)


def write_teacher_corpus(
    teacher: Language, input_path: Union[str, Path], output_path: Union[str, Path], *,
    component: str = "token_classifier", temperature: float = 1.0, force: bool = False,
) -> int:
    """Read a DocBin, add the teacher's targets to every Doc, write the result; returns the Doc count."""
    from .data.docbin import DOCBIN_FILE, write_docbin
    from .files import check_output

    output = check_output(output_path, DOCBIN_FILE, inputs=[input_path], force=force)
    docs = list(DocBin().from_disk(input_path).get_docs(teacher.vocab))
    labelled = list(label_with_teacher(teacher, docs, component=component, temperature=temperature))
    if len(labelled) != len(docs):  # every input Doc has its output Doc
        raise TeacherError(f"{input_path}: {len(docs)} docs read, {len(labelled)} labelled")
    write_docbin(labelled, output, store_user_data=True)
    return len(labelled)
