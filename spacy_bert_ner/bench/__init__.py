"""The lab's clocks: inference speed (``speed``), where inference time goes (``profiling``), timed training.

``speed.run_benchmark`` times trained pipelines against HF's pipeline and the
bare encoder on the same words; its parts live in ``data`` (the words), ``spec``
(what to measure), ``spacy_systems`` / ``hf_systems`` (the systems), ``timing``,
``rss`` (memory), ``compute`` (encoder FLOPs and the matmul peak), ``kernels``
(which kernels ran, a clean BLAS environment), ``training_speed``, ``records``
(the JSON's shape) and ``render`` (JSON, Markdown, PNG). ``env`` describes the
machine and process. ``int8_selection`` chooses on dev which layers the int8
modes keep in fp32; ``gpu_check`` holds the Python steps of ``scripts/gpu_check.sh``.
"""
