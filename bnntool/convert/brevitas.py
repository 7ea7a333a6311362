"""Brevitas ``bnn_pynq`` checkpoints, read as the layers of a stock overlay.

Brevitas (PyPI ``brevitas`` 0.13) ships BNN-PYNQ's networks as ``brevitas_examples.bnn_pynq``.
Its trainer saves ``torch.save({"state_dict", "optim_dict", "epoch", "best_val_acc"})`` to
``<experiments>/<NETWORK>_<w>W<a>A_<date>_<time>/checkpoints/best.tar``; its pretrained files
and ``--state_dict_to_pth`` hold the bare state dict. Reading either needs PyTorch only.

The file holds no bit widths: they come from the network name, taken from the experiment
folder (``LFC_1W1A_1W1A_...``) or, for a file elsewhere, from the overlay. The mapping:

* Input. LFC: ``2 * pixel / 255 - 1`` binarized at ``>= 0``, i.e. pixel ``>= 128``: BNN-PYNQ's
  own input bits. CNV: the same through an 8-bit quantizer of step 1/128: BNN-PYNQ's codes.
  LFC_1W2A quantizes its input to 2 bits (three levels a pixel); the lfcW1A2 overlay takes
  one bit a pixel, so it is refused.
* Weights: Brevitas's quantizers (1 bit: ``w >= 0`` gives +1; 2 bits: round half to even, then
  clamp to [-1, 1]), applied here; no biases, no padding.
* Batch-norm: ``BatchNorm1d/2d`` (eps 1e-5 in LFC, 1e-4 in CNV) and the last ``TensorNorm``
  (one scalar each, eps 1e-4) in the Lasagne form, ``inv_std = 1 / sqrt(running_var + eps)``.
* Activations: 1 bit ``y >= 0``; 2 bits ``clamp(round_half_even(y), -1, 1)``, i.e. steps
  ``y >= -0.5`` and ``y > 0.5``.

Brevitas evaluates in float32, bnntool's thresholds in exact arithmetic. For every layer the
float32 batch-norm outputs at every reachable sum are computed with PyTorch as Brevitas computes
them; where one lies within rounding of a step and the two would decide differently, that
neuron's mean is moved by the few millionths that make the overlay decide as Brevitas does.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from bnntool.convert import ConvertResult, convert
from bnntool.convert.matrices import quantize_trained
from bnntool.convert.npz import LayerWeights, WeightsError
from bnntool.convert.thresholds import steps
from bnntool.errors import FormatError, UserError
from bnntool.overlay import LayerSpec, OverlaySpec

# Brevitas's bnn_pynq networks that a stock overlay holds, by their configuration names.
OVERLAYS = {
    "lfc_1w1a": "lfcW1A1",
    "lfc_1w2a": "lfcW1A2",
    "cnv_1w1a": "cnvW1A1",
    "cnv_1w2a": "cnvW1A2",
    "cnv_2w2a": "cnvW2A2",
}
# The datasets Brevitas's configurations train them on (bnntool's names).
DATASETS = {"lfc": "mnist", "cnv": "cifar-10"}
# Batch-norm epsilons of Brevitas's model definitions.
BN_EPS = {"lfc": 1e-5, "cnv": 1e-4}
TENSORNORM_EPS = 1e-4
_EXPERIMENT = re.compile(r"^((?:lfc|cnv|tfc|sfc)_\d+w\d+a)_\d+w\d+a_\d{8}_\d{6}$", re.IGNORECASE)
_CONTAINERS = {"lfc": ("features",), "cnv": ("conv_features", "linear_features")}


class BrevitasError(WeightsError):
    """A Brevitas checkpoint that does not map exactly onto the overlay."""


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a file ``torch.save`` wrote (zip with a data.pkl, or a pickle)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(name.endswith("/data.pkl") for name in z.namelist())
    except zipfile.BadZipFile:
        pass
    except OSError:
        return False
    try:
        with path.open("rb") as f:
            return f.read(1) == b"\x80"  # a pickle (torch.save's legacy format)
    except OSError:
        return False


def checkpoint_in(folder: Path) -> Path | None:
    """The checkpoint of a Brevitas experiment folder: checkpoints/best.tar, if there is one."""
    best = Path(folder) / "checkpoints" / "best.tar"
    return best if best.is_file() else None


def network_of(path: Path) -> str | None:
    """The Brevitas network name (``lfc_1w1a``) of a checkpoint in its trainer's experiment
    folder, from the folder's name; None elsewhere."""
    path = Path(path).resolve()
    if path.parent.name != "checkpoints":
        return None
    match = _EXPERIMENT.match(path.parent.parent.name)
    return match.group(1).lower() if match else None


def network_for(spec: OverlaySpec) -> str:
    """The Brevitas network an overlay's network and precisions correspond to."""
    first = spec.layers[0]
    return f"{spec.network}_{first.weights.bits}w{first.activations.bits}a"


def overlay_for(path: Path) -> str | None:
    """The stock overlay of a checkpoint in its trainer's experiment folder (None elsewhere)."""
    name = network_of(path)
    if name and name not in OVERLAYS:
        raise BrevitasError(
            f"{path} is a Brevitas {name.upper()} (its experiment folder says so); the stock "
            f"overlays hold {', '.join(n.upper() for n in OVERLAYS)}"
        )
    return OVERLAYS.get(name) if name else None


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The checkpoint's state dict as float arrays (a trainer checkpoint or a bare state dict;
    DataParallel's ``module.`` prefix taken off, as Brevitas's trainer does)."""
    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for damaged or foreign files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FormatError(f"{path} is not a readable PyTorch checkpoint ({first})") from None
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BrevitasError(
            f"{path} holds no state dict (a dict of tensors, or one under 'state_dict'); give "
            "the best.tar (or checkpoint.tar) Brevitas's bnn_pynq trainer wrote"
        )
    out = {}
    for key, value in state.items():
        name = key[len("module.") :] if key.startswith("module.") else key
        out[name] = value.detach().cpu().numpy()
    return out


def convert_checkpoint(
    path: str | Path, overlay: str | Path | OverlaySpec, out_dir: str | Path, **options
) -> ConvertResult:
    """``bnntool.convert.convert`` for a Brevitas checkpoint (the same options, but no
    ``bn_variance_eps``: a checkpoint holds running variances, read as such)."""
    path = Path(path)
    if options.pop("bn_variance_eps", None) is not None:
        raise UserError(f"{path} is a Brevitas checkpoint: leave out --bn-variance")

    def read(spec: OverlaySpec) -> tuple[tuple[LayerWeights, ...], list[str], str]:
        layers, notes = read_checkpoint(path, spec)
        return layers, notes, f"Brevitas {network_for(spec).upper()} running variance"

    return convert(path, overlay, out_dir, read=read, **options)


def read_checkpoint(path: Path, spec: OverlaySpec) -> tuple[tuple[LayerWeights, ...], list[str]]:
    """The layers of a Brevitas checkpoint for ``spec`` (weights already quantized), and notes
    on the neurons whose mean was moved to decide as Brevitas's float32 forward does."""
    path = Path(path)
    expected = network_for(spec)
    overlay_for(path)  # refuses a network no stock overlay holds
    named = network_of(path)
    if named and named != expected:
        raise BrevitasError(
            f"{path} is a Brevitas {named.upper()} (its experiment folder says so), but overlay "
            f"{spec.name} holds {expected.upper()}; convert for {OVERLAYS[named]} (leave out "
            "--overlay)"
        )
    if expected not in OVERLAYS:
        raise BrevitasError(
            f"overlay {spec.name} holds no Brevitas bnn_pynq network ({expected.upper()}); the "
            f"stock overlays hold {', '.join(n.upper() for n in OVERLAYS)}"
        )
    if expected == "lfc_1w2a":
        raise BrevitasError(
            f"{path}: features.0 (the input quantizer) of Brevitas's LFC_1W2A has 2 bits (-1, 0, "
            "+1 a pixel), but overlay lfcW1A2 takes 1 bit a pixel, so no parameter folder "
            "computes it exactly; train LFC_1W1A (or a CNV) for a stock overlay"
        )
    state = load_state_dict(path)
    pairs = _layer_modules(path, state, spec.network)
    if len(pairs) != len(spec.layers):
        raise BrevitasError(
            f"{path} has {len(pairs)} weight layers (each followed by a norm), but a "
            f"{spec.network.upper()} has {len(spec.layers)}; is it another Brevitas network?"
        )
    layers, notes = [], []
    for layer, (w_name, n_name) in zip(spec.layers, pairs, strict=True):
        p = _layer(path, layer, state, w_name, n_name, spec.network)
        p, moved = match_float32(layer, p, _brevitas_norm(state, n_name, spec.network, layer))
        if moved:
            notes.append(
                f"layer {layer.index} ({w_name}): {len(moved)} neurons' float32 batch-norm "
                f"output lies within rounding of a step; their mean moved by at most "
                f"{max(moved):.1e} so that the overlay decides as Brevitas does"
            )
        layers.append(p)
    return tuple(layers), notes


def _layer_modules(path: Path, state: dict[str, np.ndarray], network: str) -> list[tuple]:
    """(weight module, norm module) names in network order."""
    modules: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    names: dict[tuple[int, int], str] = {}
    for key, value in state.items():
        prefix, _, attr = key.rpartition(".")
        container, _, index = prefix.rpartition(".")
        if container not in _CONTAINERS[network] or not index.isdigit():
            other = "cnv" if network == "lfc" else "lfc"
            hint = (
                f"a Brevitas {other.upper()}?"
                if container in _CONTAINERS[other]
                else "not a Brevitas bnn_pynq LFC or CNV?"
            )
            raise BrevitasError(f"{path}: unexpected key {key} for a {network.upper()} ({hint})")
        at = (_CONTAINERS[network].index(container), int(index))
        modules.setdefault(at, {})[attr] = value
        names[at] = prefix
    pairs = []
    order = sorted(modules)
    for i, at in enumerate(order):
        attrs = modules[at]
        if "running_var" in attrs:
            continue
        if set(attrs) - {"weight"}:
            raise BrevitasError(
                f"{path}: {names[at]} has {', '.join(sorted(set(attrs) - {'weight'}))}; the "
                "overlays' Brevitas layers have weights only (bias=False)"
            )
        norm = order[i + 1] if i + 1 < len(order) else None
        if norm is None or "running_var" not in modules[norm]:
            raise BrevitasError(f"{path}: {names[at]} is not followed by a BatchNorm or TensorNorm")
        pairs.append((names[at], names[norm]))
    return pairs


def _layer(
    path: Path,
    layer: LayerSpec,
    state: dict[str, np.ndarray],
    w_name: str,
    n_name: str,
    network: str,
) -> LayerWeights:
    w = state[f"{w_name}.weight"]
    if layer.is_conv:
        npz_w = w
        ok = w.shape == layer.npz_weight_shape
        want = layer.npz_weight_shape
    else:
        npz_w = w.T  # PyTorch (out, in) -> Lasagne (in, out)
        rows = w.shape[0] if w.ndim == 2 else 0
        fits = 1 <= rows <= layer.out_channels if layer.last else rows == layer.out_channels
        ok = w.ndim == 2 and w.shape[1] == layer.mw and fits
        want = (f"1..{layer.out_channels}" if layer.last else layer.out_channels, layer.mw)
    if not ok:
        raise BrevitasError(
            f"{path}: {w_name}.weight has shape {tuple(w.shape)}, but layer {layer.index} of "
            f"the overlay needs ({', '.join(map(str, want))}); is it another Brevitas network?"
        )
    units = npz_w.shape[0] if layer.is_conv else npz_w.shape[1]
    norm = {k: state[f"{n_name}.{k}"].astype(np.float64) for k in _NORM}
    scalar = norm["running_var"].shape == (1,)
    for key, value in norm.items():
        if value.shape != ((1,) if scalar else (units,)):
            raise BrevitasError(
                f"{path}: {n_name}.{key} has shape {value.shape}, expected ({units},) or (1,)"
            )
        bad = int(np.count_nonzero(~np.isfinite(value)))
        if bad:
            raise BrevitasError(f"{path}: {n_name}.{key} has {bad} NaN or infinite values")
    if scalar and not layer.last:
        raise BrevitasError(
            f"{path}: {n_name} is a TensorNorm, but layer {layer.index} is not last"
        )
    bad_w = int(np.count_nonzero(~np.isfinite(w)))
    if bad_w:
        raise BrevitasError(f"{path}: {w_name}.weight has {bad_w} NaN or infinite values")
    if np.any(norm["running_var"] < 0):
        raise BrevitasError(f"{path}: {n_name}.running_var has negative values")
    eps = TENSORNORM_EPS if scalar else BN_EPS[network]

    def full(a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, (units,)).astype(np.float64)

    weights = quantize(layer, npz_w.astype(np.float64))
    return LayerWeights(
        weights=weights,
        bias=np.zeros(units),
        beta=full(norm["bias"]),
        gamma=full(norm["weight"]),
        mean=full(norm["running_mean"]),
        inv_std=full(1.0 / np.sqrt(norm["running_var"] + eps)),
    )


_NORM = ("weight", "bias", "running_mean", "running_var")


def quantize(layer: LayerSpec, w: np.ndarray) -> np.ndarray:
    """Brevitas's weight quantizers: 1 bit: +1 iff w >= 0; 2 bits (scale 1, narrow range):
    round half to even, clamp to [-1, 1]. The values are fixed points of bnntool's quantizer."""
    q = np.where(w >= 0, 1.0, -1.0) if layer.weights.bits == 1 else np.clip(np.rint(w), -1, 1)
    assert np.array_equal(quantize_trained(layer, q), q)
    return q


def _brevitas_norm(state: dict[str, np.ndarray], n_name: str, network: str, layer: LayerSpec):
    """The layer's batch-norm as Brevitas evaluates it in float32: sums -> outputs."""
    import torch

    t = {k: torch.from_numpy(state[f"{n_name}.{k}"].astype(np.float32)) for k in _NORM}
    scalar = t["running_var"].shape == (1,)

    def evaluate(sums: np.ndarray) -> np.ndarray:
        s = torch.from_numpy(sums.astype(np.float32))
        units = t["weight"].numel()
        if scalar:  # TensorNorm's own arithmetic, on one scalar for every unit
            y = (s - t["running_mean"]) / (t["running_var"] + TENSORNORM_EPS).pow(0.5)
            return (y * t["weight"] + t["bias"]).numpy()[:, None]
        if layer.is_conv:  # as BatchNorm2d sees a conv output: N x C x H x W, contiguous
            x = s.reshape(1, 1, -1, 1).expand(1, units, len(sums), 1).contiguous()
        else:
            x = s.reshape(-1, 1).expand(len(sums), units).contiguous()
        y = torch.nn.functional.batch_norm(
            x,
            t["running_mean"],
            t["running_var"],
            t["weight"],
            t["bias"],
            training=False,
            momentum=0.0,
            eps=BN_EPS[network],
        )
        return (y[0, :, :, 0].T if layer.is_conv else y).numpy()

    return evaluate


def reachable_sums(layer: LayerSpec) -> np.ndarray:
    """Every value a neuron's sum (quantized weights x inputs) can take, in input units.

    +-1 weights on +-1 inputs: the fan-in's parity, step 2; otherwise every multiple of the
    input LSB (1/128 for CNV's 8-bit image) between the extremes.
    """
    fan_in = layer.mw
    if layer.weights.bits == 1 and layer.inputs.bits == 1:
        return np.arange(-fan_in, fan_in + 1, 2, dtype=np.float64)
    lsb = 2**layer.inputs.frac_bits
    top = fan_in * lsb  # |input| <= 1 and |weight| <= 1
    return np.arange(-top, top + 1, dtype=np.float64) / lsb


def match_float32(layer: LayerSpec, p: LayerWeights, norm) -> tuple[LayerWeights, list[float]]:
    """``p`` with the mean moved, for the few neurons where Brevitas's float32 decision at a
    reachable sum differs from the exact one; and how far each moved."""
    if not layer.has_thresholds:
        return p, []
    sums = reachable_sums(layer)
    y = np.broadcast_to(norm(sums), (len(sums), p.units))
    two_bit = layer.activations.bits == 2
    # Brevitas: 1 bit y >= 0; 2 bits round half to even, so y >= -0.5 and y > 0.5.
    fires = [y > s if two_bit and s > 0 else y >= s for s in steps(layer)]
    counts = np.stack([f.sum(axis=0) for f in fires], axis=1)  # sums that fire, per neuron/step
    mean = p.mean.copy()
    moved = []
    for n in np.flatnonzero((counts != _exact_counts(layer, p, sums)).any(axis=1)):
        mean[n], shift = _moved_mean(layer, p, n, sums, counts[n])
        moved.append(shift)
    if not moved:
        return p, []
    fixed = replace(p, mean=mean)
    wrong = np.flatnonzero((counts != _exact_counts(layer, fixed, sums)).any(axis=1))
    if len(wrong):
        raise BrevitasError(
            f"layer {layer.index}, neuron {wrong[0]}: Brevitas's float32 batch-norm decides "
            "two steps on a tie at once; no threshold reproduces it"
        )
    return fixed, moved


def _exact_counts(layer: LayerSpec, p: LayerWeights, sums: np.ndarray) -> np.ndarray:
    """Per neuron and step, how many of ``sums`` fire in exact arithmetic (bnntool's model)."""
    out = np.empty((p.units, len(steps(layer))), dtype=np.int64)
    for n in range(p.units):
        for i, c in enumerate(_crossings(layer, p, n)):
            if c is None:  # gamma = 0: constant
                out[n, i] = len(sums) if p.beta[n] >= steps(layer)[i] else 0
            elif c[1] > 0:
                out[n, i] = len(sums) - np.searchsorted(sums, _float_at_least(c[0]), "left")
            else:
                out[n, i] = np.searchsorted(sums, _float_at_most(c[0]), "right")
    return out


def _crossings(layer: LayerSpec, p: LayerWeights, n: int) -> list:
    """Per step, (c, sign): the neuron fires for sums >= c (sign > 0) or <= c (sign < 0)."""
    g = Fraction(float(p.gamma[n])) * Fraction(float(p.inv_std[n]))
    if g == 0:
        return [None] * len(steps(layer))
    base = Fraction(float(p.mean[n])) - Fraction(float(p.bias[n]))
    beta = Fraction(float(p.beta[n]))
    return [(base + (Fraction(float(s)) - beta) / g, 1 if g > 0 else -1) for s in steps(layer)]


def _float_at_least(c: Fraction) -> float:
    """The smallest float64 >= c (the sums are exact float64 values)."""
    f = float(c)
    return f if Fraction(f) >= c else float(np.nextafter(f, np.inf))


def _float_at_most(c: Fraction) -> float:
    f = float(c)
    return f if Fraction(f) <= c else float(np.nextafter(f, -np.inf))


def _moved_mean(
    layer: LayerSpec, p: LayerWeights, n: int, sums: np.ndarray, counts: np.ndarray
) -> tuple[float, float]:
    """A mean for neuron ``n`` with which every step fires on exactly ``counts`` sums."""
    lo, hi = -np.inf, np.inf  # the shift d of every crossing: lo < d <= hi (or lo <= d < hi)
    crossings = _crossings(layer, p, n)
    for (c, sign), count in zip(crossings, counts, strict=True):
        m = len(sums)
        if sign > 0:  # fires for sums >= c + d: the first firing sum is sums[m - count]
            below = float(sums[m - count - 1] - c) if count < m else -np.inf
            at = float(sums[m - count] - c) if count > 0 else np.inf
            lo, hi = max(lo, below), min(hi, at)
        else:  # fires for sums <= c + d: the last firing sum is sums[count - 1]
            at = float(sums[count - 1] - c) if count > 0 else -np.inf
            above = float(sums[count] - c) if count < m else np.inf
            lo, hi = max(lo, at), min(hi, above)
    if not lo < hi:
        raise BrevitasError(
            f"layer {layer.index}, neuron {n}: Brevitas's float32 batch-norm decides its steps "
            "inconsistently; no threshold reproduces it"
        )
    margin = min((hi - lo) / 2, 1e-6)
    shift = hi - margin if hi <= 0 else lo + margin if lo >= 0 else 0.0
    return float(Fraction(float(p.mean[n])) + Fraction(shift)), abs(shift)
