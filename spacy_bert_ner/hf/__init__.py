"""HuggingFace tools around the component, each in its own module.

``loader`` (the one place that loads HF tokenizers and models), ``interop``
(checks and weight moves both directions share), ``hf_to_spacy`` (``import_hf``),
``spacy_to_hf`` (``export_hf``), ``onnx`` (``export_onnx`` with a parity check),
``recipe_data`` and ``recipe`` (the HF Trainer recipe, the peer baseline),
``model_facts`` (what goes out with a model), ``model_card`` (the README.md
``export_hf`` writes), ``package_meta`` (meta.json overrides for ``spacy package``) and
``records`` (the typed summaries and the recipe's JSON record).
"""
