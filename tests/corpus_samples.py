"""Shared by the corpus reader tests: tiny CoNLL/GMB samples, published counts, helpers.

Not a test module: ``test_conll``, ``test_gmb``, ``test_iob`` and ``test_docbin``
import from here.
"""
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import pytest
import spacy
from spacy.tokens import Doc
from spacy.vocab import Vocab

from spacy_bert_ner.data import CorpusFormatError, convert, read_conll, read_gmb

from .conftest import SHARED_DATA

# Two documents: 2 + 2 sentences, 12 tokens, 6 entities; IOB2.
CONLL_IOB2 = """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

Germany NNP B-NP B-LOC
France NNP I-NP B-LOC

The DT B-NP O
European NNP I-NP B-ORG
Commission NNP I-NP I-ORG
"""
CONLL_ENTS = [
    [("EU", "ORG"), ("German", "MISC"), ("Peter Blackburn", "PER")],
    [("Germany", "LOC"), ("France", "LOC"), ("European Commission", "ORG")],
]

GMB_CSV = '''\
Sentence #,Word,POS,Tag
Sentence: 1,Thousands,NNS,O
,marched,VBD,O
,through,IN,O
,London,NNP,B-geo
,.,.,O
Sentence: 2,"10,000",CD,O
,"""",``,O
,Iraqi,JJ,B-gpe
,troops,NNS,O
Sentence: 3,President,NNP,B-per
,Bush,NNP,I-per
,spoke,VBD,O
'''

# Published CoNLL-2003 statistics (shared/data/README.md).
CONLL_COUNTS = {
    "train": (946, 14041, 203621, {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}, 23499),
    "dev": (216, 3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}, 5942),
    "test": (231, 3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}, 5648),
}


# ---------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module", name="vocab")
def vocab_fixture() -> Vocab:
    """The ``vocab`` fixture; test modules import it under this name (no clash with the argument)."""
    return spacy.blank("en").vocab


def write(tmp_path: Path, name: str, content: Union[str, bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def ents(doc: Doc) -> List[Tuple[str, str]]:
    return [(ent.text, ent.label_) for ent in doc.ents]


def sents(doc: Doc) -> List[str]:
    return [sent.text for sent in doc.sents]


def iob2_to_iob1(tags: Sequence[str]) -> List[str]:
    """B-X becomes I-X unless the previous tag is B-X or I-X of the same type."""
    out, previous = [], "O"
    for tag in tags:
        touches = previous[:2] in ("B-", "I-") and previous[2:] == tag[2:]
        out.append("I-" + tag[2:] if tag.startswith("B-") and not touches else tag)
        previous = tag
    return out


def conll_to_iob1(text: str) -> str:
    """Rewrite the last column of a CoNLL text from IOB2 to IOB1, sentence by sentence."""
    out: List[str] = []
    sentence: List[List[str]] = []

    def flush() -> None:
        for fields, tag in zip(sentence, iob2_to_iob1([f[-1] for f in sentence])):
            out.append(" ".join(fields[:-1] + [tag]))
        sentence.clear()

    for line in text.split("\n"):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            flush()
            out.append(line)
        else:
            sentence.append(fields)
    flush()
    return "\n".join(out)


def sentences_per_doc(docs: Sequence[Doc]) -> List[int]:
    return [len(sents(doc)) for doc in docs]



def check_error(err: CorpusFormatError, path: Path, line: int, problem: str) -> None:
    message = str(err)
    assert message.startswith(f"{path}:{line}: "), message
    assert f"{path.name}:{line}:" in message
    assert problem in message
    assert (err.line_no, Path(err.path)) == (line, path)


def run_bad(tmp_path: Path, vocab: Vocab, name: str, content: Union[str, bytes], kwargs: Dict[str, Any],
            fmt: str, line: int, problem: str) -> None:
    """The reader and convert() both raise the one-line error; convert() leaves nothing behind."""
    path = write(tmp_path, name, content)
    reader = read_conll if fmt == "conll" else read_gmb
    with pytest.raises(CorpusFormatError) as info:
        reader(path, vocab, **kwargs)
    check_error(info.value, path, line, problem)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(CorpusFormatError) as info:
        convert(path, out_dir / "x.spacy", fmt=fmt, **kwargs)  # type: ignore[arg-type]
    check_error(info.value, path, line, problem)
    assert list(out_dir.iterdir()) == []


needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} not available")


def expected_counts(split: str) -> Dict[str, Any]:
    documents, sentences, tokens, per_type, entities = CONLL_COUNTS[split]
    return {"documents": documents, "sentences": sentences, "tokens": tokens, "entities": entities,
            "per_type": per_type}

