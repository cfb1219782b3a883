"""Do the exported HF model and the spaCy pipeline find the same entities on a corpus?

The check behind the export promise (docs/interop.md): HF's
``pipeline("token-classification", aggregation_strategy="first")`` on the
``export-hf`` folder against the spaCy pipeline with ``decoding = "repair"``
(argmax + BIO repair, what HF's grouping does), sentence by sentence. Both see
the same input: one sentence's words joined by single spaces, the spaCy Doc
built from those words with one sentence start, so the transformer window is
the sentence in both (HF's pipeline has no document context). Entities are
compared as character spans with their type; every disagreement is listed.
"""
from pathlib import Path
from typing import Any, Iterator, List, Sequence, Tuple, TypedDict, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..util import load_pipeline, sentence_bounds
from .interop import load_hf_token_classifier
from .loader import quiet_transformers

PathLike = Union[str, Path]
CharSpan = Tuple[int, int, str]  # start_char, end_char, entity type
MAX_LISTED = 50  # disagreements written out in full; all are counted


class Disagreement(TypedDict):
    sentence: int  # index in the corpus, in reading order
    text: str
    spacy: List[CharSpan]
    hf: List[CharSpan]


class ParityReport(TypedDict):
    """What ``hf-parity`` writes: counts and the first :data:`MAX_LISTED` disagreements."""

    pipeline: str
    hf_model: str
    corpus: str
    component: str
    spacy_decoding: str
    hf_aggregation: str
    unit: str
    sentences: int
    words: int
    spacy_entities: int
    hf_entities: int
    same_entities: int  # entities found by both, same span and type
    sentences_differing: int
    # differing sentences where a word with a differing entity is one the tokenizer's
    # pre-tokenizer splits (``U.S.``, ``SKIING-WORLD``): HF's pipeline then takes each
    # piece for a word of its own and labels it by its own first subword
    differing_at_split_words: int
    differing_otherwise: List[int]  # sentence indices of the rest: unexplained by the split
    disagreements: List[Disagreement]


def corpus_sentences(path: PathLike) -> List[List[str]]:
    """Each sentence's words, in reading order, from a DocBin (sentence starts as saved)."""
    sentences: List[List[str]] = []
    for doc in DocBin().from_disk(path).get_docs(Vocab()):
        sentences.extend([token.text for token in doc[start:end]] for start, end in sentence_bounds(doc))
    return [words for words in sentences if words]


def sentence_doc(nlp: Language, words: Sequence[str]) -> Doc:
    """The Doc whose text is ``" ".join(words)``, one sentence, so its window is the sentence."""
    doc = Doc(nlp.vocab, words=list(words), spaces=[True] * (len(words) - 1) + [False])
    for i, token in enumerate(doc):
        token.is_sent_start = i == 0
    return doc


def spacy_spans(nlp: Language, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> Iterator[List[CharSpan]]:
    docs = (sentence_doc(nlp, words) for words in sentences)
    for doc in nlp.pipe(docs, batch_size=batch_size):
        yield [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def hf_spans(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 32) -> Iterator[List[CharSpan]]:
    from transformers import pipeline

    with quiet_transformers():
        ner = pipeline(
            "token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="first", device=-1
        )
    for found in ner(list(texts), batch_size=batch_size):
        yield [(int(e["start"]), int(e["end"]), str(e["entity_group"])) for e in found]


def hf_parity(
    pipeline_path: PathLike, hf_dir: PathLike, corpus: PathLike, *, component: str = "token_classifier",
    limit: int = 0,
) -> ParityReport:
    """Compare the two on every sentence of ``corpus`` (the first ``limit`` when > 0)."""
    sentences = corpus_sentences(corpus)
    if limit > 0:
        sentences = sentences[:limit]
    if not sentences:
        raise ValueError(f"{corpus}: no sentences to compare")
    nlp = load_pipeline(pipeline_path, config={"components": {component: {"decoding": "repair"}}})
    texts = [" ".join(words) for words in sentences]
    model, tokenizer = load_hf_token_classifier(hf_dir)
    pairs = list(zip(spacy_spans(nlp, sentences), hf_spans(model, tokenizer, texts)))
    differing = [i for i, (ours, theirs) in enumerate(pairs) if ours != theirs]
    at_split = [i for i in differing if _at_split_word(tokenizer, sentences[i], *pairs[i])]
    return ParityReport(
        pipeline=str(pipeline_path), hf_model=str(hf_dir), corpus=str(corpus), component=component,
        spacy_decoding="repair", hf_aggregation="first",
        unit="one sentence at a time: its words joined by spaces (HF); a Doc of those words, one window (spaCy)",
        sentences=len(sentences), words=sum(len(words) for words in sentences),
        spacy_entities=sum(len(ours) for ours, _ in pairs), hf_entities=sum(len(theirs) for _, theirs in pairs),
        same_entities=sum(len(set(ours) & set(theirs)) for ours, theirs in pairs),
        sentences_differing=len(differing), differing_at_split_words=len(at_split),
        differing_otherwise=[i for i in differing if i not in set(at_split)],
        disagreements=[_disagreement(i, texts[i], *pairs[i]) for i in differing[:MAX_LISTED]],
    )


def _at_split_word(tokenizer: Any, words: Sequence[str], ours: List[CharSpan], theirs: List[CharSpan]) -> bool:
    """Does a differing entity touch a word that the pre-tokenizer cuts into several pieces?"""
    differing = set(ours) ^ set(theirs)
    pre_tokenize = tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str
    start = 0
    for word in words:
        end = start + len(word)
        if any(s < end and start < e for s, e, _ in differing) and len(pre_tokenize(word)) > 1:
            return True
        start = end + 1
    return False


def _disagreement(index: int, text: str, ours: List[CharSpan], theirs: List[CharSpan]) -> Disagreement:
    return Disagreement(sentence=index, text=text, spacy=ours, hf=theirs)


def parity_lines(report: ParityReport) -> List[str]:
    """The summary a person reads: counts, then a few disagreements with the differing spans."""
    lines = [
        f"{report['sentences']} sentences, {report['words']} words: spaCy {report['spacy_entities']} entities, "
        f"HF {report['hf_entities']}, {report['same_entities']} identical; "
        f"{report['sentences_differing']} sentences differ, {report['differing_at_split_words']} of them at a "
        f"word HF's pre-tokenizer splits ({len(report['differing_otherwise'])} otherwise)"
    ]
    for item in report["disagreements"][:5]:
        only_ours = sorted(set(map(tuple, item["spacy"])) - set(map(tuple, item["hf"])))
        only_theirs = sorted(set(map(tuple, item["hf"])) - set(map(tuple, item["spacy"])))
        lines.append(f"  #{item['sentence']}: spaCy only {_show(item['text'], only_ours)}; "
                     f"HF only {_show(item['text'], only_theirs)}")
    return lines


def _show(text: str, spans: Sequence[Any]) -> str:
    return ", ".join(f"{text[s:e]!r} {label}" for s, e, label in spans) or "-"
