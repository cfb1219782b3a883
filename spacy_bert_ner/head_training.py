"""The token classifier's training-only settings: label smoothing, the head's learning-rate scale, distillation.

All three are settings of the component's config, not of its saved ``cfg``: they
change how the weights are trained, not what a saved pipeline predicts, and
pipelines saved before they existed load with the defaults (0.0, 1.0, 0.0),
which train exactly as before.
"""
from typing import Any, Set, Tuple

from thinc.api import Model, Optimizer

ParamKey = Tuple[int, str]


def check_training_settings(
    label_smoothing: float, head_lr_scale: float, use_crf: bool, distill_weight: float = 0.0
) -> None:
    """Refuse values the loss or the optimizer cannot use, before any training."""
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1), got {label_smoothing!r}")
    if not 0.0 <= distill_weight <= 1.0:
        raise ValueError(f"distill_weight: expected a value in [0, 1], got {distill_weight!r}")
    for name, value in (("label_smoothing", label_smoothing), ("distill_weight", distill_weight)):
        if value > 0.0 and use_crf:
            raise ValueError(
                f"{name} = {value!r} with model.use_crf = true: the CRF's loss is the likelihood of "
                "whole gold sequences, which has no per-token target to mix into; set one of them off"
            )
    if head_lr_scale < 0.0:
        raise ValueError(f"head_lr_scale: expected a value >= 0, got {head_lr_scale!r}")


def head_param_keys(model: Model) -> Set[ParamKey]:
    """The optimizer keys of the head's parameters: every node of ``model`` outside its ``tok2vec`` ref.

    That is the output layer, any hidden layer, the POS / shape embeddings and
    the CRF transitions; a transformer inside ``tok2vec`` (rather than behind a
    listener) keeps its own learning rate.
    """
    encoder = {node.id for node in model.get_ref("tok2vec").walk()} if model.has_ref("tok2vec") else set()
    return {(node.id, name) for node in model.walk() if node.id not in encoder for name in node.param_names}


class ScaledOptimizer:
    """``optimizer`` with its learning rate multiplied by ``lr_scale`` for the parameters in ``keys``.

    Passed to ``Model.finish_update`` in place of the optimizer: thinc's
    ``Optimizer.__call__`` takes ``lr_scale``, which scales the Adam (or SGD)
    step and the weight decay alike; every other key is passed through as is.
    """

    def __init__(self, optimizer: Optimizer, lr_scale: float, keys: Set[ParamKey]) -> None:
        self.optimizer = optimizer
        self.lr_scale = lr_scale
        self.keys = keys

    def __call__(self, key: ParamKey, weights: Any, gradient: Any, *, lr_scale: float = 1.0):
        if key in self.keys:
            lr_scale = lr_scale * self.lr_scale
        return self.optimizer(key, weights, gradient, lr_scale=lr_scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


def finish_head_update(model: Model, optimizer: Optimizer, head_lr_scale: float) -> None:
    """``model.finish_update(optimizer)``, with the head's steps scaled by ``head_lr_scale``."""
    if head_lr_scale == 1.0:
        model.finish_update(optimizer)
    else:
        model.finish_update(ScaledOptimizer(optimizer, head_lr_scale, head_param_keys(model)))  # type: ignore[arg-type]
