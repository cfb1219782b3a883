"""IOB1 / IOB2 in corpus files: checking each tag, detecting a file's scheme, bringing it to IOB2.

Kept because no library checks or reports the scheme: spaCy's ``iob_to_biluo``
reads IOB1 silently, so it can neither say which scheme a file used nor stop at
the line where a file given as IOB2 is not. The conversion itself is
:func:`spacy_bert_ner.tags.iob1_to_iob2`, not spaCy's
``biluo_to_iob(iob_to_biluo(tags))``: that agrees on plain labels but its
``str.replace`` mangles labels containing ``L-``/``U-`` (``B-URL-X`` -> ``B-URI-X``).

Entity types are checked against a known set (:data:`CONLL_LABELS`,
:data:`GMB_LABELS` or the caller's ``labels``): a tag cut mid-way (``B-g``)
would otherwise become a new entity type without a word.
"""
from typing import Collection, Literal, NamedTuple, Optional, Sequence, Set, Tuple

from ..tags import iob1_to_iob2, split_tag
from .errors import CorpusFormatError, PathLike
from .sentences import Sentence
from .text import LineGetter

TagScheme = Literal["auto", "iob1", "iob2"]
TAG_SCHEMES = ("auto", "iob1", "iob2")

CONLL_LABELS = ("LOC", "MISC", "ORG", "PER")
GMB_LABELS = ("art", "eve", "geo", "gpe", "nat", "org", "per", "tim")


class SchemeReport(NamedTuple):
    """The scheme a file was read as (``iob1`` or ``iob2``) and why, for the user to check."""

    scheme: TagScheme
    reason: str


def first_iob1_start(tags: Sequence[str]) -> Optional[int]:
    """Index of the first ``I-X`` that starts an entity (IOB1 evidence), or None."""
    return next((i for i, (tag, fixed) in enumerate(zip(tags, iob1_to_iob2(tags))) if tag != fixed), None)


def tag_problem(tag: str, seen: Set[str], labels: Collection[str]) -> Optional[str]:
    """What is wrong with ``tag`` (None if it is O, B-TYPE or I-TYPE with TYPE in ``labels``).

    ``seen`` caches the valid tags.
    """
    if tag in seen:
        return None
    try:
        _, label = split_tag(tag)
    except ValueError:
        return f"invalid NER tag {tag!r}; expected O, B-TYPE or I-TYPE"
    if label not in labels:
        known = ", ".join(sorted(labels))
        return f"unknown entity type {label!r} in tag {tag!r}; expected one of {known} (--labels allows others)"
    seen.add(tag)
    return None


def check_labels(labels: Collection[str]) -> None:
    """Entity types given by the caller: non-empty names without spaces."""
    if not labels:
        raise ValueError("labels must name at least one entity type")
    bad = [label for label in labels if not label or label != label.strip() or " " in label or label == "O"]
    if bad:
        raise ValueError(f"invalid entity types {bad!r}; expected names such as PER,ORG")


def check_scheme(scheme: str) -> None:
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(TAG_SCHEMES)}; got {scheme!r}")


def resolve_scheme(
    path: PathLike, sentences: Sequence[Sentence], scheme: TagScheme, line_at: LineGetter
) -> SchemeReport:
    """Bring every sentence's tags to IOB2 in place; return the scheme the file was read as, and why.

    ``auto`` reads a file as IOB1 as soon as one ``I-X`` starts an entity; the
    reason names the first such line and how many there are, since an IOB2
    file with errors looks the same. Converting IOB2 data with
    :func:`iob1_to_iob2` is a no-op, so ``auto`` and ``iob1`` can both simply
    convert. ``iob2`` raises at the first IOB1 tag, naming its line.
    """
    check_scheme(scheme)
    if scheme == "iob2":
        for sentence in sentences:
            _check_iob2(path, sentence, line_at)
        return SchemeReport("iob2", "given as iob2; every I- tag continues an entity of its type")
    first: Optional[Tuple[int, str]] = None
    n_starts = 0
    for sentence in sentences:
        converted = iob1_to_iob2(sentence.ner)
        if converted != sentence.ner:
            n_starts += sum(tag != fixed for tag, fixed in zip(sentence.ner, converted))
            first = first or _iob1_evidence(sentence)
            sentence.ner = converted
    if scheme == "iob1":
        return SchemeReport("iob1", f"given as iob1; {n_starts} I- tags start an entity")
    if first is None:
        return SchemeReport("iob2", "auto: every I- tag continues an entity of its type")
    reason = (
        f"auto: {n_starts} I- tags start an entity (first: {path}:{first[0]}: {first[1]}); read as IOB1, "
        "pass --scheme iob2 to stop at such a tag instead"
    )
    return SchemeReport("iob1", reason)


def _iob1_evidence(sentence: Sentence) -> Optional[Tuple[int, str]]:
    """``(line, "I-X follows O")`` for the first tag of ``sentence`` that only IOB1 allows."""
    index = first_iob1_start(sentence.ner)
    if index is None:
        return None
    after = f"follows {sentence.ner[index - 1]}" if index else "starts a sentence"
    return sentence.lines[index], f"{sentence.ner[index]} {after}"


def _check_iob2(path: PathLike, sentence: Sentence, line_at: LineGetter) -> None:
    evidence = _iob1_evidence(sentence)
    if evidence is None:
        return
    line_no, what = evidence
    problem = f"{what}; this is IOB1, pass scheme='iob1' or 'auto'"
    raise CorpusFormatError(path, line_no, problem, line_at(line_no))
