"""The lab's clocks: inference speed (``speed``), where inference time goes (``profiling``), timed training.

``speed.run_benchmark`` times trained pipelines against HF's pipeline and the
bare encoder on the same words; its parts live in ``data`` (the words), ``spec``
(what to measure), ``spacy_systems`` / ``hf_systems`` (the systems), ``timing``,
``rss`` (memory), ``training_speed``, ``records`` (the JSON's shape) and
``render`` (JSON, Markdown, PNG). ``env`` describes the machine and process.
"""
