"""Sentences as the readers collect them, and how groups of whole sentences become Docs.

Both readers (:mod:`.conll`, :mod:`.gmb`) fill :class:`Sentence` records with
the line each token came from, so later checks can still name that line, then
group them (``n_sents``) into Docs with words, POS in ``token.tag_``, sentence
starts and IOB2 entities.
"""
from dataclasses import dataclass, field
from typing import Iterator, List, Sequence

from spacy.tokens import Doc
from spacy.vocab import Vocab


@dataclass
class Sentence:
    """One sentence as read: parallel lists, plus each token's 1-based line number.

    ``number``: the id the file gives the sentence (GMB's ``Sentence: N``); 0 when it has none (CoNLL).
    """

    words: List[str] = field(default_factory=list)
    pos: List[str] = field(default_factory=list)
    ner: List[str] = field(default_factory=list)
    lines: List[int] = field(default_factory=list)
    number: int = 0


def check_n_sents(n_sents: int) -> None:
    if n_sents < 0:
        raise ValueError(f"n_sents must be >= 0 (0: natural grouping); got {n_sents}")


def groups(sentences: Sequence[Sentence], size: int) -> Iterator[Sequence[Sentence]]:
    """Consecutive groups of ``size`` sentences; ``size == 0`` means all in one group."""
    if size <= 0:
        yield sentences
        return
    for start in range(0, len(sentences), size):
        yield sentences[start : start + size]


def make_doc(vocab: Vocab, sentences: Sequence[Sentence], *, with_pos: bool) -> Doc:
    """One Doc from whole sentences: single spaces between tokens, sentence starts, IOB2 ents."""
    words: List[str] = []
    sent_starts: List[bool] = []
    ner: List[str] = []
    pos: List[str] = []
    for sentence in sentences:
        words.extend(sentence.words)
        sent_starts.append(True)
        sent_starts.extend([False] * (len(sentence.words) - 1))
        ner.extend(sentence.ner)
        pos.extend(sentence.pos)
    spaces = [True] * len(words)
    spaces[-1] = False
    tags = pos if with_pos else None
    return Doc(vocab, words=words, spaces=spaces, tags=tags, sent_starts=sent_starts, ents=ner)
