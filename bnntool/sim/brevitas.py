"""Brevitas's own ``bnn_pynq`` network, loaded from a checkpoint: what ``verify --against``
runs for a Brevitas checkpoint (needs ``pip install 'bnntool[brevitas]'``).

The model is Brevitas's (``brevitas_examples.bnn_pynq.models``), built from its configuration
for the overlay's network and precisions, with the checkpoint's state dict loaded strictly, in
eval mode on the CPU. Images go in as its trainer feeds them (``ToTensor``: pixel / 255, float32,
N x C x H x W). Each layer's activations are read from the model itself (after max-pool where
the layer pools), laid out as the overlay model keeps them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bnntool.convert.brevitas import BrevitasError, load_state_dict, network_for
from bnntool.encoding import InputEncoding
from bnntool.errors import UserError
from bnntool.overlay import OverlaySpec
from bnntool.sim.inputs import HostInput


class BrevitasModel:
    """The reference of a Brevitas checkpoint: logits and activations as Brevitas computes them."""

    def __init__(
        self, path: Path, spec: OverlaySpec, encoding: InputEncoding | None = None
    ) -> None:
        try:
            import torch
            from brevitas_examples.bnn_pynq.models import get_model_cfg, model_impl
        except ImportError:
            raise UserError(
                f"{path} is a Brevitas checkpoint; verify --against runs Brevitas's own model: "
                "pip install 'bnntool[brevitas]'"
            ) from None
        if spec.network == "lfc" and encoding is not None and not encoding.is_upstream:
            raise UserError(
                f"{path}: a Brevitas LFC takes BNN-PYNQ's input bits, but the folder's overlay "
                "uses another input encoding"
            )
        self.spec = spec
        self.host = HostInput(spec, None if spec.network == "lfc" else encoding)
        state = load_state_dict(path)
        last = [k for k in state if k.endswith(".weight") and state[k].ndim == 2][-1]
        self._outputs = int(state[last].shape[0])
        name = network_for(spec)
        try:
            cfg = get_model_cfg(name)
        except AssertionError:
            raise BrevitasError(
                f"Brevitas has no bnn_pynq network {name.upper()} for overlay {spec.name}"
            ) from None
        cfg.set("MODEL", "NUM_CLASSES", str(self._outputs))
        self.model = model_impl[cfg.get("MODEL", "ARCH")](cfg)
        try:
            self.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        except RuntimeError as e:
            detail = " ".join(str(e).split())[:300]
            raise BrevitasError(
                f"{path} does not load into Brevitas's {name.upper()}: {detail}"
            ) from None
        self.model.eval()
        self._torch = torch
        self._acts: list = []
        for module in self._activation_modules():
            module.register_forward_hook(lambda _m, _i, out: self._acts.append(out))

    @property
    def outputs(self) -> int:
        return self._outputs

    def _activation_modules(self) -> list:
        """Per thresholded layer, the module whose output is its activation: the quantizer
        after the layer's batch-norm, or the max-pool that follows that quantizer."""
        from torch.nn import BatchNorm1d, BatchNorm2d, MaxPool2d

        modules = [
            m
            for name in ("features", "conv_features", "linear_features")
            for m in getattr(self.model, name, [])
        ]
        picked = []
        for i, m in enumerate(modules[:-2]):
            if isinstance(m, BatchNorm1d | BatchNorm2d):
                after = modules[i + 2] if isinstance(modules[i + 2], MaxPool2d) else modules[i + 1]
                picked.append(after)
        return picked

    def run(self, images: np.ndarray, *, keep: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (N x classes) and, with ``keep``, every thresholded layer's activations."""
        self.host.check(images)
        torch = self._torch
        x = torch.from_numpy(np.array(images, dtype=np.float32)).div(255)
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
        self._acts.clear()
        with torch.no_grad():
            logits = self.model(x).numpy().astype(np.float64)
        acts = []
        if keep:
            for a in self._acts:
                a = np.asarray(a.detach().numpy() if hasattr(a, "detach") else a.value.numpy())
                acts.append(a.transpose(0, 2, 3, 1) if a.ndim == 4 else a)
        self._acts.clear()
        return logits, acts
