"""Gold POS in the predicted docs: a corpus reader for training and the copy ``evaluate --gold-tags`` makes.

Kept for one experiment: the GMB system this project grew from fed the
corpus's own POS column to its classifier at test time. spaCy's
``spacy.Corpus.v1`` gives every component a freshly tokenized predicted doc
without tags, so a ``token_classifier`` with ``pos_width > 0`` and no tagger
before it would only ever see empty tags. :func:`copy_gold_tags` puts the
reference ``token.tag_`` into the predicted doc, through the alignment (a
reference token that spaCy's tokenizer split gives its tag to every piece).

That is the *gold POS* setting: a pipeline trained this way needs gold tags
on its input, which raw text never has. The setting that runs on raw text is
a ``tagger`` before the classifier (configs/token_classifier_pos.cfg).
"""
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional

from spacy.language import Language
from spacy.training import Corpus, Example
from spacy.util import registry

GOLD_TAGS_CORPUS = "spacy-bert-ner.GoldTagsCorpus.v1"


def copy_gold_tags(example: Example) -> Example:
    """Set each predicted token's ``tag_`` from the reference token(s) it aligns to; returns ``example``.

    A predicted token aligned to reference tokens with different tags (or to
    none) is left as it was; a reference without tags changes nothing.
    """
    if not example.reference.has_annotation("TAG"):
        return example
    for token, tag in zip(example.predicted, example.get_aligned("TAG", as_string=True)):
        if tag:
            token.tag_ = tag
    return example


def pos_readers_without_tags(nlp: Language) -> List[str]:
    """Components whose model embeds ``token.tag_`` (``pos_width > 0``) with no component before them
    that assigns tags: given raw text they see no POS, so they need ``evaluate --gold-tags``."""
    found: List[str] = []
    tagged = False
    for name in nlp.pipe_names:
        if _pos_width(nlp.config["components"][name].get("model", {})) > 0 and not tagged:
            found.append(name)
        tagged = tagged or "token.tag" in nlp.get_pipe_meta(name).assigns
    return found


def _pos_width(config: Mapping[str, Any]) -> int:
    """The largest ``pos_width`` anywhere in a component's model config (0 if none)."""
    widths = [config.get("pos_width") or 0] + [_pos_width(v) for v in config.values() if isinstance(v, Mapping)]
    return max(int(w) for w in widths)


class GoldTagsCorpus:
    """``spacy.Corpus.v1``'s examples, each passed through :func:`copy_gold_tags`."""

    def __init__(self, corpus: Callable[[Language], Iterable[Example]]) -> None:
        self.corpus = corpus

    def __call__(self, nlp: Language) -> Iterator[Example]:
        for example in self.corpus(nlp):
            yield copy_gold_tags(example)


@registry.readers(GOLD_TAGS_CORPUS)
def create_gold_tags_reader(
    path: Optional[str], gold_preproc: bool, max_length: int = 0, limit: int = 0,
    augmenter: Optional[Callable[[Language, Example], Iterable[Example]]] = None,
) -> GoldTagsCorpus:
    """``spacy.Corpus.v1`` (same settings) with the gold ``tag_`` copied into every predicted doc.

    Swap it in for a corpus with ``--corpora.train.@readers spacy-bert-ner.GoldTagsCorpus.v1``
    (and ``corpora.dev``, so model-best is chosen in the same setting).
    """
    if path is None:
        raise ValueError(f"{GOLD_TAGS_CORPUS}: path is null; expected a DocBin (.spacy) file or folder (--paths.train)")
    return GoldTagsCorpus(Corpus(path, gold_preproc=gold_preproc, max_length=max_length, limit=limit, augmenter=augmenter))
