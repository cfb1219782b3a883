"""spaCy-integrated BERT-family NER: the ``token_classifier`` component and friends.

Importing the package registers its factory, architectures, layers and
callbacks; spaCy also finds them through entry points, so ``spacy.load``
needs no import.
"""
from . import architectures, callbacks, layers, pipeline, precision, sorted_batches, span_getters
from .pipeline import TokenClassifier, make_token_classifier

__version__ = "0.1.0"

__all__ = [
    "TokenClassifier",
    "architectures",
    "callbacks",
    "layers",
    "make_token_classifier",
    "pipeline",
    "precision",
    "sorted_batches",
    "span_getters",
]
