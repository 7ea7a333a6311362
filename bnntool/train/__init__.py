"""Training: quantized LFC/CNV networks in PyTorch, from recipes, exporting the upstream .npz."""

from bnntool.train.loop import RunResult, saved_recipe, train
from bnntool.train.recipe import Recipe, load_recipe

__all__ = ["Recipe", "RunResult", "load_recipe", "saved_recipe", "train"]
