"""Hardware and process description: what the reports record about the machine."""
import pytest

from spacy_bert_ner.bench.env import address_space_peak_rss_mb, hardware_info, hardware_key, peak_rss_mb


@pytest.mark.parametrize(
    "hardware,expected",
    [
        ({"cpu": "AMD EPYC", "cores": 2, "gpu": None, "torch_threads": 2}, ("AMD EPYC", 2, None)),
        ({"cpu_model": "AMD EPYC", "cpu_cores": 2, "gpu": None}, ("AMD EPYC", 2, None)),  # the recipe's keys
        (None, None),
        ("AMD EPYC", None),
    ],
)
def test_hardware_key(hardware, expected):
    assert hardware_key(hardware) == expected


def test_this_machine_is_described():
    info = hardware_info()
    assert info["cores"] >= 1 and info["cpu"]
    assert hardware_key(info) == (info["cpu"], info["cores"], None)
    assert address_space_peak_rss_mb() > 0 and peak_rss_mb() > 0
