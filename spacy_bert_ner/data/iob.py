"""IOB1 / IOB2 in corpus files: checking each tag, detecting a file's scheme, bringing it to IOB2.

Kept because no library checks or reports the scheme: spaCy's ``iob_to_biluo``
reads IOB1 silently, so it can neither say which scheme a file used nor stop at
the line where a file given as IOB2 is not. The conversion itself is
:func:`spacy_bert_ner.tags.iob1_to_iob2`, not spaCy's
``biluo_to_iob(iob_to_biluo(tags))``: that agrees on plain labels but its
``str.replace`` mangles labels containing ``L-``/``U-`` (``B-URL-X`` -> ``B-URI-X``).
"""
from typing import Literal, Optional, Sequence, Set

from ..tags import iob1_to_iob2, split_tag
from .errors import CorpusFormatError, PathLike
from .sentences import Sentence
from .text import LineGetter

TagScheme = Literal["auto", "iob1", "iob2"]
TAG_SCHEMES = ("auto", "iob1", "iob2")


def first_iob1_start(tags: Sequence[str]) -> Optional[int]:
    """Index of the first ``I-X`` that starts an entity (IOB1 evidence), or None."""
    return next((i for i, (tag, fixed) in enumerate(zip(tags, iob1_to_iob2(tags))) if tag != fixed), None)


def tag_problem(tag: str, seen: Set[str]) -> Optional[str]:
    """What is wrong with ``tag`` (None if it is O, B-TYPE or I-TYPE); ``seen`` caches valid tags."""
    if tag in seen:
        return None
    try:
        split_tag(tag)
    except ValueError:
        return f"invalid NER tag {tag!r}; expected O, B-TYPE or I-TYPE"
    seen.add(tag)
    return None


def check_scheme(scheme: str) -> None:
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(TAG_SCHEMES)}; got {scheme!r}")


def resolve_scheme(path: PathLike, sentences: Sequence[Sentence], scheme: TagScheme, line_at: LineGetter) -> TagScheme:
    """Bring every sentence's tags to IOB2 in place; return the scheme the file was read as.

    ``auto`` reads a file as IOB1 as soon as one ``I-X`` starts an entity.
    Converting IOB2 data with :func:`iob1_to_iob2` is a no-op, so ``auto`` and
    ``iob1`` can both simply convert. ``iob2`` raises at the first IOB1 tag.
    """
    check_scheme(scheme)
    if scheme == "iob2":
        for sentence in sentences:
            _check_iob2(path, sentence, line_at)
        return "iob2"
    found_iob1 = False
    for sentence in sentences:
        converted = iob1_to_iob2(sentence.ner)
        if converted != sentence.ner:
            sentence.ner = converted
            found_iob1 = True
    if scheme == "iob1":
        return "iob1"
    return "iob1" if found_iob1 else "iob2"


def _check_iob2(path: PathLike, sentence: Sentence, line_at: LineGetter) -> None:
    index = first_iob1_start(sentence.ner)
    if index is None:
        return
    tag = sentence.ner[index]
    after = f"follows {sentence.ner[index - 1]}" if index else "starts a sentence"
    line_no = sentence.lines[index]
    problem = f"{tag} {after}; this is IOB1, pass scheme='iob1' or 'auto'"
    raise CorpusFormatError(path, line_no, problem, line_at(line_no))
