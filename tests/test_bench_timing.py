"""Timing: the interleaved schedule, medians of passes, speed ratios."""
import statistics
from typing import List

import pytest

from spacy_bert_ner.bench.timing import System, measure_interleaved, speed_ratios, summarize_seconds


class FakeClock:
    """Each system's pass advances the clock by the next of its scripted durations."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_system(name: str, durations: List[float], clock: FakeClock, calls: List[str]) -> System:
    pending = list(durations)

    def run():
        calls.append(name)
        clock.now += pending.pop(0)
        return f"{name}-output-{len(pending)}"

    return System(name, run, warm_up=lambda: calls.append(f"warm:{name}"))


def test_passes_are_interleaved_and_timed_per_pass():
    clock, calls = FakeClock(), []
    systems = [
        fake_system("a", [3.0, 1.0, 2.0], clock, calls),
        fake_system("b", [5.0, 4.0, 6.0], clock, calls),
    ]
    timings = measure_interleaved(systems, 3, clock=clock)
    assert calls == ["warm:a", "warm:b", "a", "b", "a", "b", "a", "b"]
    assert timings.schedule == ["warm-up:a", "warm-up:b", "a#1", "b#1", "a#2", "b#2", "a#3", "b#3"]
    assert timings.seconds == {"a": [3.0, 1.0, 2.0], "b": [5.0, 4.0, 6.0]}
    assert timings.outputs == {"a": "a-output-0", "b": "b-output-0"}  # the last pass


def test_measure_without_warm_up():
    clock, calls = FakeClock(), []
    timings = measure_interleaved([fake_system("a", [1.0, 2.0], clock, calls)], 2, clock=clock, warm_up=False)
    assert calls == ["a", "a"] and timings.schedule == ["a#1", "a#2"]


def test_measure_rejects_bad_input():
    clock, calls = FakeClock(), []
    with pytest.raises(ValueError, match="repeats"):
        measure_interleaved([fake_system("a", [1.0], clock, calls)], 0, clock=clock)
    with pytest.raises(ValueError, match="unique"):
        measure_interleaved([fake_system("a", [1.0], clock, calls)] * 2, 1, clock=clock)


@pytest.mark.parametrize("seconds", [[3.0, 1.0, 2.0], [4.0, 1.0, 2.0, 10.0], [2.5]])
def test_summary_uses_the_median_pass(seconds):
    summary = summarize_seconds(seconds, n_words=1000, n_wordpieces=1500)
    median = statistics.median(seconds)
    assert summary["seconds_median"] == median
    assert summary["words_per_second"] == pytest.approx(1000 / median)
    assert summary["wordpieces_per_second"] == pytest.approx(1500 / median)
    assert summary["seconds_all"] == seconds
    assert summary["repeats"] == len(seconds)
    assert summary["words_per_second_all"] == pytest.approx([1000 / s for s in seconds])


def test_summary_median_is_not_the_mean():
    summary = summarize_seconds([1.0, 1.0, 10.0], n_words=100, n_wordpieces=100)
    assert summary["seconds_median"] == 1.0
    assert summary["words_per_second"] == 100.0
    with pytest.raises(ValueError, match="at least one"):
        summarize_seconds([], n_words=100, n_wordpieces=100)


def test_ratios_divide_words_per_second():
    systems = {
        "token_classifier": {"words_per_second": 1200.0},
        "hf_pipeline": {"words_per_second": 1000.0},
        "bare_forward": {"words_per_second": 2400.0},
    }
    ratios = speed_ratios(systems)
    assert ratios == pytest.approx({
        "token_classifier/hf_pipeline": 1.2,
        "token_classifier/bare_forward": 0.5,
        "bare_forward/hf_pipeline": 2.4,
    })
