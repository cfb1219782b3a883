"""Corpus readers and conversion: CoNLL-2003 and GMB files -> spaCy Docs -> DocBin.

The readers are pure: they read one file and return Docs with words, POS in
``token.tag_``, sentence starts and IOB2 entities, or raise
:class:`CorpusFormatError` naming ``path:line`` and quoting the bad line. They
never skip or repair data silently; the one conversion they make, IOB1 ->
IOB2, is explicit (``scheme``) and its result is reported by :func:`convert`.

Modules: ``conll`` and ``gmb`` (the readers), ``iob`` (tag checks, scheme
detection; the conversion itself is ``tags.iob1_to_iob2``), ``sentences``
(sentences -> Docs), ``text`` (decoding with located errors), ``errors``,
``docbin`` (DocBin writing, counts, the ``convert`` entry point), ``splits``
(GMB's 80/10/10 split), ``corpora`` (the gold-POS corpus reader; importing
this package registers it, as its entry point does for plain ``spacy train``).
"""
from ..tags import iob1_to_iob2  # its one home; re-exported here for the readers' users
from . import corpora
from .conll import read_conll
from .docbin import ConvertStats, CorpusStats, convert, corpus_stats, write_docbin
from .errors import CorpusFormatError
from .gmb import read_gmb

__all__ = [
    "ConvertStats",
    "CorpusFormatError",
    "CorpusStats",
    "convert",
    "corpus_stats",
    "iob1_to_iob2",
    "read_conll",
    "read_gmb",
    "write_docbin",
]
