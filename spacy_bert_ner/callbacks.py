"""Registered callbacks for configs (``[initialize.after_init]``)."""
from typing import Callable, List, Optional

from spacy.language import Language
from spacy.util import registry

from .util import hf_model as find_hf_model


def transformer_layer_list(hf_model) -> Optional[List]:
    """The encoder's stack of layers, whatever the family calls it.

    BERT/RoBERTa/DeBERTa: ``encoder.layer``; DistilBERT: ``transformer.layer``;
    others: the first ModuleList with ``config.num_hidden_layers`` entries.
    """
    import torch

    expected = getattr(hf_model.config, "num_hidden_layers", None) or getattr(
        hf_model.config, "n_layers", None
    )
    for _, module in hf_model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == expected:
            return list(module)
    return None


def freeze_lower_layers(hf_model, n_layers: int, freeze_embeddings: bool = True) -> int:
    """Stop gradients for the embeddings and the lowest ``n_layers`` layers.

    Returns the number of parameters frozen. Frozen parameters get no
    gradient, so thinc's optimizer never touches them (less compute, too).
    """
    layers = transformer_layer_list(hf_model)
    if layers is None:
        raise ValueError(
            f"Cannot find the layer stack of {type(hf_model).__name__} to freeze; "
            "set n_layers = 0 or use a BERT-like model"
        )
    if n_layers > len(layers):
        raise ValueError(f"Cannot freeze {n_layers} layers: the model has {len(layers)}")
    modules = list(layers[:n_layers])
    if freeze_embeddings:
        modules.extend(m for name, m in hf_model.named_children() if "embed" in name)
    frozen = 0
    for module in modules:
        for param in module.parameters():
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


@registry.callbacks("spacy-bert-ner.freeze_transformer_layers.v1")
def make_freeze_transformer_layers(
    n_layers: int = 0, freeze_embeddings: bool = True, component: str = "transformer"
) -> Callable[[Language], Language]:
    """After initialization, freeze the embeddings and lower ``n_layers`` layers.

    Use as ``[initialize.after_init]``. n_layers = 0 and freeze_embeddings =
    false leave everything trainable.
    """

    def freeze(nlp: Language) -> Language:
        if n_layers <= 0 and not freeze_embeddings:
            return nlp
        hf_model = find_hf_model(nlp, component)
        if hf_model is None:
            raise ValueError(f"{component!r} has no HuggingFace model to freeze (not initialized?)")
        freeze_lower_layers(hf_model, n_layers, freeze_embeddings)
        return nlp

    return freeze
