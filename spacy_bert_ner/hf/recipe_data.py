"""The HF Trainer recipe's data: CoNLL or DocBin sentences in, Trainer features with first-subword labels out.

As the source write-ups prepare it (HF course chapter 7, ``run_ner.py``): one
example per sentence, no document context; the IOB2 label on each word's FIRST
subword, -100 on continuation pieces and special tokens (``word_ids()``),
``truncation=True`` at the model maximum. :class:`EncodedSplit` also keeps
where each word's first piece sits, so predictions are read back per word,
and counts the words left without a piece (predicted ``O``, never skipped).
The training run itself is :mod:`.recipe`.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..alignment import NO_PIECE, hf_first_subword_labels, hf_first_subword_positions
from ..data import read_conll
from ..data.docbin import DOCBIN_FILE
from ..evaluation.metrics import doc_to_iob2
from ..tags import bio_repair, split_tag

PathLike = Union[str, Path]
Sentences = List[List[str]]

IGNORE_INDEX = -100  # HF's label for pieces the loss must not see


def read_conll_sentences(path: PathLike) -> Tuple[Sentences, Sentences]:
    """Words and IOB2 tags per sentence of a CoNLL-2003 file, in file order.

    Reads with :func:`spacy_bert_ner.data.read_conll` (``-DOCSTART-``
    lines are document boundaries, IOB1 files come back as IOB2) and splits
    each Doc at its sentence starts. Empty sentences do not occur.
    """
    return _doc_sentences(read_conll(path, Vocab()))


def read_sentences(path: PathLike) -> Tuple[Sentences, Sentences]:
    """Words and IOB2 tags per sentence of a CoNLL-2003 file or a DocBin (``.spacy``, e.g. a GMB split).

    A ``.spacy`` file must start like a DocBin, as ``evaluate`` checks; its Docs'
    own tokens, sentence starts and entities are used (a Doc without sentence
    starts is one sentence), so the recipe reads exactly the gold words the
    spaCy pipelines are scored on.
    """
    if Path(path).suffix.lower() != ".spacy":
        return read_conll_sentences(path)
    if not DOCBIN_FILE.recognises(Path(path)):
        raise ValueError(f"{path}: not a DocBin (.spacy) file; expected spaCy's binary format (convert makes one)")
    return read_docbin_sentences(path)


def read_docbin_sentences(path: PathLike) -> Tuple[Sentences, Sentences]:
    """Words and IOB2 tags per sentence of a DocBin file, in file order."""
    return _doc_sentences(DocBin().from_disk(path).get_docs(Vocab()))


def _doc_sentences(docs: Iterable[Doc]) -> Tuple[Sentences, Sentences]:
    words: Sentences = []
    tags: Sentences = []
    for doc in docs:
        doc_tags = doc_to_iob2(doc)
        sents = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
        for sent in sents:
            if len(sent) == 0:
                continue
            words.append([token.text for token in sent])
            # An entity crossing a sentence start is cut there (the readers never write one).
            tags.append(bio_repair(doc_tags[sent.start : sent.end]))
    return words, tags


def entity_types(tag_sequences: Sequence[Sequence[str]]) -> List[str]:
    """Sorted entity types found in IOB2 sequences."""
    return sorted({split_tag(tag)[1] for seq in tag_sequences for tag in seq} - {""})


def align_labels(word_ids: Sequence[Optional[int]], word_labels: Sequence[int]) -> List[int]:
    """HF's label alignment: each word's first subword gets its label, the rest -100.

    word_ids: ``BatchEncoding.word_ids(i)`` (None for special tokens).
    word_labels: label id per word.
    """
    return hf_first_subword_labels(word_ids, word_labels, ignore=IGNORE_INDEX)


@dataclass
class EncodedSplit:
    """A tokenized split: Trainer features plus where each word's first piece sits."""

    features: List[Dict[str, List[int]]]
    first_positions: List[numpy.ndarray]  # per sentence: int[n_words], NO_PIECE (-1) if none
    n_words: int
    n_words_without_piece: int  # dropped by the tokenizer or cut by max_length


def encode_sentences(
    tokenizer: Any,
    words: Sentences,
    tags: Optional[Sentences],
    label2id: Dict[str, int],
    *,
    max_length: int,
) -> EncodedSplit:
    """Tokenize pre-split sentences and align labels to first subwords.

    tags: gold IOB2 per sentence; a tag not in ``label2id`` (a type unseen in
        training) raises. None: features carry no ``labels``.
    """
    if not words:
        return EncodedSplit([], [], 0, 0)
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    features: List[Dict[str, List[int]]] = []
    positions: List[numpy.ndarray] = []
    n_missing = 0
    for i, sentence in enumerate(words):
        word_ids = encoding.word_ids(i)
        feature = {key: list(values[i]) for key, values in encoding.items()}
        if tags is not None:
            feature["labels"] = align_labels(word_ids, _label_ids(tags[i], label2id, i))
        first = hf_first_subword_positions(word_ids, len(sentence))
        n_missing += int((first == NO_PIECE).sum())
        features.append(feature)
        positions.append(first)
    n_words = sum(len(sentence) for sentence in words)
    return EncodedSplit(features, positions, n_words, n_missing)


def _label_ids(tags: Sequence[str], label2id: Dict[str, int], index: int) -> List[int]:
    try:
        return [label2id[tag] for tag in tags]
    except KeyError as err:
        raise ValueError(
            f"sentence {index}: tag {err.args[0]!r} is not among the training labels "
            f"{sorted(label2id)}"
        ) from None
