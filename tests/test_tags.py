"""tags.py: label lists, IOB2/BILUO conversions, BIO repair, spans."""
import pytest

from spacy_bert_ner.tags import (
    biluo_to_iob2,
    bio_repair,
    iob1_to_iob2,
    iob2_to_biluo,
    is_valid_iob2,
    make_iob2_labels,
    spans_to_tags,
    split_tag,
    tags_to_spans,
)

# ---------------------------------------------------------------------------
# Label schemes
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "types,expected",
    [
        (["PER", "LOC"], ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]),
        (["MISC", "LOC", "MISC"], ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]),
        ([], ["O"]),
        (["geo-nam"], ["O", "B-geo-nam", "I-geo-nam"]),
    ],
)
def test_make_iob2_labels(types, expected):
    assert make_iob2_labels(types) == expected


@pytest.mark.parametrize("bad", ["", "O", "B-PER", "I-LOC", "U-X"])
def test_make_iob2_labels_rejects(bad):
    with pytest.raises(ValueError, match="entity type"):
        make_iob2_labels(["PER", bad])


@pytest.mark.parametrize(
    "tag,expected",
    [("B-PER", ("B", "PER")), ("I-geo-nam", ("I", "geo-nam")), ("O", ("O", ""))],
)
def test_split_tag(tag, expected):
    assert split_tag(tag) == expected


@pytest.mark.parametrize("bad", ["", "B", "B-", "PER", "U-PER", "L-PER", "o", "E-X", "-"])
def test_split_tag_rejects_with_tag_in_message(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("-", r"\-")):
        split_tag(bad)


VALID_IOB2 = [
    [],
    ["O"],
    ["B-PER"],
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["B-PER", "B-PER", "I-PER", "I-PER", "B-LOC", "I-LOC", "O"],
    ["O", "B-ORG", "B-MISC", "I-MISC"],
]


@pytest.mark.parametrize("tags", VALID_IOB2)
def test_conversions_round_trip(tags):
    biluo = iob2_to_biluo(tags)
    assert biluo_to_iob2(biluo) == tags
    assert iob2_to_biluo(biluo_to_iob2(biluo)) == biluo
    assert spans_to_tags(tags_to_spans(tags), len(tags)) == tags
    assert is_valid_iob2(tags)


@pytest.mark.parametrize(
    "iob2,biluo",
    [
        (["B-PER", "I-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "L-PER", "O", "U-LOC"]),
        (["B-PER", "B-PER"], ["U-PER", "U-PER"]),
        (["I-PER", "O", "O"], ["U-PER", "O", "O"]),  # orphan I- is repaired first
    ],
)
def test_iob2_to_biluo(iob2, biluo):
    assert iob2_to_biluo(iob2) == biluo


def test_biluo_to_iob2_is_tag_by_tag():
    # a BILUO sequence with a gap (unknown tag replaced by O) keeps each class
    assert biluo_to_iob2(["O", "I-PER", "L-PER"]) == ["O", "I-PER", "I-PER"]
    with pytest.raises(ValueError, match="BILUO"):
        biluo_to_iob2(["O", "-"])


@pytest.mark.parametrize(
    "tags,expected",
    [
        (["I-PER"], ["B-PER"]),
        (["O", "I-PER", "I-PER"], ["O", "B-PER", "I-PER"]),
        (["B-PER", "I-LOC", "I-LOC"], ["B-PER", "B-LOC", "I-LOC"]),
        (["I-PER", "I-LOC", "O", "I-LOC"], ["B-PER", "B-LOC", "O", "B-LOC"]),
        (["B-PER", "I-PER", "B-PER"], ["B-PER", "I-PER", "B-PER"]),
        ([], []),
    ],
)
def test_bio_repair(tags, expected):
    repaired = bio_repair(tags)
    assert repaired == expected
    assert is_valid_iob2(repaired)
    assert bio_repair(repaired) == repaired
    assert iob1_to_iob2(tags) == expected  # the IOB1 -> IOB2 conversion is the same rewrite


def test_biluo_to_iob2_keeps_types_that_contain_biluo_prefixes():
    # spaCy's biluo_to_iob rewrites the first "U-"/"L-" anywhere: "U-EDU-ORG" -> "B-EDB-ORG"
    assert biluo_to_iob2(["U-EDU-ORG", "B-XL-Y", "L-XL-Y"]) == ["B-EDU-ORG", "B-XL-Y", "I-XL-Y"]


@pytest.mark.parametrize(
    "tags,valid",
    [
        (["O", "B-X", "I-X"], True),
        (["I-X"], False),
        (["B-X", "I-Y"], False),
        (["O", "I-X"], False),
        (["B-X", "L-X"], False),
        (["garbage"], False),
    ],
)
def test_is_valid_iob2(tags, valid):
    assert is_valid_iob2(tags) is valid


@pytest.mark.parametrize(
    "tags,spans",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [(0, 2, "PER"), (3, 4, "LOC")]),
        (["B-PER", "B-PER", "I-PER"], [(0, 1, "PER"), (1, 3, "PER")]),
        (["O", "O"], []),
        (["O", "B-X", "I-X"], [(1, 3, "X")]),
    ],
)
def test_tags_to_spans(tags, spans):
    assert tags_to_spans(tags) == spans


def test_tags_to_spans_rejects_orphan_inside():
    with pytest.raises(ValueError, match="bio_repair"):
        tags_to_spans(["O", "I-PER"])


@pytest.mark.parametrize(
    "spans,length",
    [([(0, 2, "X"), (1, 3, "Y")], 4), ([(2, 5, "X")], 4), ([(1, 1, "X")], 4), ([(0, 1, "B-X")], 2)],
)
def test_spans_to_tags_rejects(spans, length):
    with pytest.raises(ValueError):
        spans_to_tags(spans, length)
