"""Evaluation: scoring pipelines and comparing them (the ``[tools]`` extra; ``spacy.load`` imports none of it).

- ``metrics``: pure metrics (Doc -> IOB2, seqeval helper, confusion matrix, spaCy-identical counts)
- ``errors``: entity-level error categories and examples
- ``stats``: per-document counts, bootstrap CI, paired bootstrap, mean ± std over seeds
- ``pipeline_eval``: running a trained pipeline (``evaluate_pipeline``, ``score_examples``)
- ``aggregate``: loading metrics folders (one per seed) and averaging them, for compare and summary
- ``comparison`` / ``summary``: building ``comparison.json`` / ``summary.json``
- ``markdown`` / ``charts``: rendering; ``report``: writing every output file
- ``calibration``: expected calibration error and reliability table of entity confidences
- ``displacy_pages``: displaCy pages of the predictions, for either head
- ``records``: typed records of the JSON files; ``windows``: choosing inference windows on dev
"""
