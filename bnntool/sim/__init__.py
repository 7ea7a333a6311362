"""The bit-exact software model of the overlays (NumPy only: the board runtime uses it too)."""

from bnntool.sim.model import OverlayModel, exactness_bound
from bnntool.sim.readout import cnv_class, lfc_class

__all__ = ["OverlayModel", "cnv_class", "exactness_bound", "lfc_class"]
