"""Entity-level error analysis: why each gold entity was missed, with example sentences.

Pure: IOB2 sequences in, counts per category and a few marked-up examples out.
``score_examples`` adds where each example sits (document, sentence);
``markdown.errors_markdown`` renders the result.
"""
from typing import Any, Dict, List, Optional, Tuple

from ..tags import Span, bio_repair, tags_to_spans
from .metrics import Sequences, check_sequences

ERROR_CATEGORIES: Tuple[str, ...] = (
    "missed",
    "spurious",
    "wrong_type",
    "wrong_boundary",
    "wrong_type_and_boundary",
)
ERROR_HELP = {
    "missed": "gold entity with no overlapping prediction",
    "spurious": "predicted entity overlapping no gold entity",
    "wrong_type": "same boundaries, other type",
    "wrong_boundary": "overlaps a prediction of its type, boundaries differ",
    "wrong_type_and_boundary": "overlapping predictions, none of its type",
}


def error_breakdown(
    gold_seqs: Sequences,
    pred_seqs: Sequences,
    *,
    words: Optional[List[List[str]]] = None,
    max_examples: int = 5,
) -> Dict[str, Any]:
    """Entity-level error categories, on :func:`bio_repair`-ed sequences.

    Per gold entity that is not predicted exactly (same boundaries and type):

    * ``wrong_type``: a predicted entity has the same boundaries, another type;
    * ``wrong_boundary``: an overlapping predicted entity has the same type;
    * ``wrong_type_and_boundary``: overlapping predictions, none of its type;
    * ``missed``: no predicted entity overlaps it.

    Per predicted entity: ``spurious`` when it overlaps no gold entity.
    (A prediction spanning two gold entities counts once per gold entity.)

    Returns ``{"counts": {category: int, "correct": int, "n_gold": int, "n_pred": int},
    "examples": {category: [...]}}`` with at most ``max_examples`` examples per
    category, in order of appearance, each ``{"sequence": i, "entity": [s, e, label],
    "gold": [[s, e, label]], "pred": [...]}``; with ``words`` also ``"sentence"``
    (the words joined by spaces) and ``"gold_marked"`` / ``"pred_marked"`` (the
    sentence with ``[words]TYPE`` brackets around the gold / predicted entities).
    """
    true_list, pred_list = check_sequences(gold_seqs, pred_seqs)
    if words is not None and [len(w) for w in words] != [len(s) for s in true_list]:
        raise ValueError("expected words with one list per sequence and one word per tag")
    counts = {category: 0 for category in ERROR_CATEGORIES}
    counts.update(correct=0, n_gold=0, n_pred=0)
    examples: Dict[str, List[Dict[str, Any]]] = {category: [] for category in ERROR_CATEGORIES}
    for i, (gold_tags, pred_tags) in enumerate(zip(true_list, pred_list)):
        gold = tags_to_spans(bio_repair(gold_tags))
        pred = tags_to_spans(bio_repair(pred_tags))
        counts["n_gold"] += len(gold)
        counts["n_pred"] += len(pred)
        for category, entity in _classify(gold, pred):
            counts[category] += 1
            if category in examples and len(examples[category]) < max_examples:
                sentence = words[i] if words is not None else None
                examples[category].append(_example(i, entity, gold, pred, sentence))
    return {"counts": counts, "examples": examples}


def _classify(gold: List[Span], pred: List[Span]) -> List[Tuple[str, Span]]:
    results = [(_gold_category(entity, pred), entity) for entity in gold]
    results += [("spurious", entity) for entity in pred if not _overlapping(entity, gold)]
    return results


def _gold_category(entity: Span, pred: List[Span]) -> str:
    if entity in pred:
        return "correct"
    overlapping = _overlapping(entity, pred)
    if not overlapping:
        return "missed"
    if any(p[:2] == entity[:2] for p in overlapping):
        return "wrong_type"
    if any(p[2] == entity[2] for p in overlapping):
        return "wrong_boundary"
    return "wrong_type_and_boundary"


def _overlapping(entity: Span, others: List[Span]) -> List[Span]:
    return [other for other in others if other[0] < entity[1] and entity[0] < other[1]]


def _example(
    index: int, entity: Span, gold: List[Span], pred: List[Span], words: Optional[List[str]]
) -> Dict[str, Any]:
    example: Dict[str, Any] = {
        "sequence": index,
        "entity": list(entity),
        "gold": [list(span) for span in gold],
        "pred": [list(span) for span in pred],
    }
    if words is not None:
        example["sentence"] = " ".join(words)
        example["gold_marked"] = _mark(words, gold)
        example["pred_marked"] = _mark(words, pred)
    return example


def _mark(words: List[str], spans: List[Span]) -> str:
    pieces = list(words)
    for start, end, label in spans:
        pieces[start] = "[" + pieces[start]
        pieces[end - 1] = f"{pieces[end - 1]}]{label}"
    return " ".join(pieces)

