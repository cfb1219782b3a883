"""The words a benchmark runs on: gold documents cut to N words, their sentences and wordpieces.

Every system of a speed run (and the profile) reads the same words, so the cut
is made once here: whole documents, then whole sentences of the document that
crosses the limit. :class:`BenchData` carries the documents, their sentences as
word lists (what the HF systems read) and the wordpiece count, and sums them up
with a fingerprint that tells two reports apart when they measured other words.
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Sequence, Union

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..evaluation.metrics import doc_fingerprint
from ..util import sentence_bounds
from .records import DataSummary

PathLike = Union[str, Path]
Sentences = List[List[str]]
WORDPIECE_CHUNK = 1024  # sentences per tokenizer call when counting


def load_docs(path: PathLike, max_words: int = 0, vocab: Any = None) -> List[Doc]:
    """The gold Docs of a DocBin, in order; with ``max_words`` only the first N words.

    The cut keeps whole documents, and of the document that crosses the limit
    its first whole sentences up to the limit (at least one sentence), so the
    result has at most ``max_words`` words unless one sentence alone is longer.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected a DocBin (.spacy) file, found nothing")
    if max_words < 0:
        raise ValueError(f"max_words: expected >= 0 (0: all), got {max_words}")
    docs = list(DocBin().from_disk(path).get_docs(vocab if vocab is not None else Vocab()))
    if not max_words:
        return docs
    kept: List[Doc] = []
    total = 0
    for doc in docs:
        if total + len(doc) <= max_words:
            kept.append(doc)
            total += len(doc)
            continue
        end = 0
        for _, stop in sentence_bounds(doc):
            if total + stop > max_words and (end > 0 or kept):
                break
            end = stop
        if end > 0:
            kept.append(doc[:end].as_doc())
        break
    return kept


def doc_sentences(docs: Sequence[Doc]) -> Sentences:
    """The words of every sentence (or of every doc without sentence starts), in order."""
    return [
        [token.text for token in doc[start:end]]
        for doc in docs
        for start, end in sentence_bounds(doc)
    ]


def count_wordpieces(tokenizer: Any, sentences: Sentences) -> int:
    """Wordpieces of the words (is_split_into_words, no special tokens, no truncation)."""
    total = 0
    for first in range(0, len(sentences), WORDPIECE_CHUNK):
        encoding = tokenizer(
            sentences[first : first + WORDPIECE_CHUNK], is_split_into_words=True,
            add_special_tokens=False, truncation=False,
        )
        total += sum(len(ids) for ids in encoding["input_ids"])
    return total


def fingerprint_all(fingerprints: Sequence[str]) -> str:
    """One short hash of many documents' fingerprints, in order."""
    return hashlib.sha1("|".join(fingerprints).encode("utf8")).hexdigest()[:16]


@dataclass
class BenchData:
    """The documents every system reads, and what they add up to."""

    path: str
    docs: List[Doc]
    sentences: Sentences
    max_words: int
    n_wordpieces: int = 0  # counted once the systems (and their tokenizers) are built

    @classmethod
    def load(cls, path: PathLike, max_words: int = 0) -> "BenchData":
        """The documents (first ``max_words`` words) and their sentences; wordpieces not counted yet."""
        docs = load_docs(path, max_words)
        return cls(path=str(path), docs=docs, sentences=doc_sentences(docs), max_words=max_words)

    @property
    def texts(self) -> List[str]:
        return [doc.text for doc in self.docs]

    @property
    def n_words(self) -> int:
        return sum(len(doc) for doc in self.docs)

    def summary(self) -> DataSummary:
        return {
            "path": self.path,
            "max_words": self.max_words,
            "n_docs": len(self.docs),
            "n_sentences": len(self.sentences),
            "n_words": self.n_words,
            "n_wordpieces": self.n_wordpieces,
            "fingerprint": fingerprint_all([doc_fingerprint(doc) for doc in self.docs]),
        }
