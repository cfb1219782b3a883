"""GMB's deterministic train/dev/test split: contiguous blocks of sentences, 80/10/10.

Kept because the GMB extract ships as one file without a split. Cutting it
into contiguous blocks by sentence number (not shuffling) keeps neighbouring
sentences, which often come from the same news article, on one side of each
cut, so dev and test are not near-copies of training sentences. The block
edges are ``round(n * 80 / 100)`` and ``round(n * 90 / 100)`` over the ``n``
sentences read (half rounds up), in integer arithmetic so they never depend on
floating point. On the full file (47,959 sentences): train 1..38,367, dev
38,368..43,163 (4,796), test 43,164..47,959 (4,796).
"""
from typing import Dict, List, Sequence, Tuple, TypeVar

SPLIT_NAMES = ("all", "train", "dev", "test")
# Cumulative percent of the sentences at the end of each split, in file order.
SPLIT_PERCENT: Dict[str, Tuple[int, int]] = {"train": (0, 80), "dev": (80, 90), "test": (90, 100)}

T = TypeVar("T")


def check_split(split: str) -> None:
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}; got {split!r}")


def split_range(n: int, split: str) -> Tuple[int, int]:
    """``(start, end)``: 0-based positions of ``split``'s block among ``n`` sentences (end exclusive)."""
    check_split(split)
    if split == "all":
        return 0, n
    low, high = SPLIT_PERCENT[split]
    return _edge(n, low), _edge(n, high)


def _edge(n: int, percent: int) -> int:
    return (n * percent + 50) // 100  # round(n * percent / 100), half up


def select_split(items: Sequence[T], split: str) -> List[T]:
    """The block of ``items`` (sentences in file order) that ``split`` names; ``all``: every item."""
    start, end = split_range(len(items), split)
    return list(items[start:end])
