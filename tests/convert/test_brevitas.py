"""Brevitas bnn_pynq checkpoints onto the stock overlays, proven against Brevitas's own model.

A Brevitas LFC_1W1A is trained briefly on real MNIST the way Brevitas's bnn_pynq trainer trains
it (its model, its squared-hinge loss, Adam at its default rate, weights clipped after every
step; images as its ToTensor gives them) and saved the way the trainer saves it. The trainer
module itself cannot be imported here: it imports torchvision, whose PyPI wheels need the CUDA
build of torch. Then ``bnntool convert`` and ``bnntool verify --against`` the checkpoint, which
runs Brevitas's own model: 100 % agreement on all 10 000 test images, layer by layer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bnntool.convert.brevitas import (
    _brevitas_norm,
    load_state_dict,
    match_float32,
    reachable_sums,
    read_checkpoint,
)
from bnntool.data import fetch, load_dataset
from bnntool.overlay import load_overlay


@pytest.fixture(scope="module")
def bnn_pynq():
    """Brevitas's bnn_pynq models (the optional extra bnntool[brevitas])."""
    try:
        from brevitas_examples.bnn_pynq import models
        from brevitas_examples.bnn_pynq.models.losses import SqrHingeLoss
    except ImportError as e:
        if os.environ.get("BNNTOOL_REQUIRE_SHARED") == "1":
            pytest.fail(f"Brevitas is not installed ({e}); pip install -e '.[brevitas]'")
        pytest.skip(f"Brevitas is not installed ({e})")
    return models, SqrHingeLoss


def save_like_the_trainer(
    model, optimizer, experiments: Path, network: str, accuracy: float
) -> Path:
    """``<experiments>/<NETWORK>_<w>W<a>A_<date>_<time>/checkpoints/best.tar`` with the dict
    Brevitas's trainer saves."""
    w, a = network.split("_")[1].upper().rstrip("A").split("W")
    folder = experiments / f"{network}_{w}W{a}A_20261201_101500"
    (folder / "checkpoints").mkdir(parents=True)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "optim_dict": optimizer.state_dict(),
            "epoch": 1,
            "best_val_acc": accuracy,
        },
        folder / "checkpoints" / "best.tar",
    )
    return folder


def as_totensor(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.array(images, dtype=np.float32)).div(255)
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def mnist(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    fetch("mnist", folder, shared / "datasets")
    return folder


@pytest.fixture(scope="module")
def trained_lfc(bnn_pynq, mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Brevitas LFC_1W1A after 200 steps of its trainer's procedure on real MNIST."""
    models, SqrHingeLoss = bnn_pynq
    torch.manual_seed(1)
    model, _ = models.model_with_cfg("lfc_1w1a", pretrained=False)
    train = load_dataset("mnist", "train", mnist)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = SqrHingeLoss()
    model.train()
    order = np.random.default_rng(1).permutation(len(train))[: 200 * 100]
    for step in range(200):
        index = order[step * 100 : (step + 1) * 100]
        target = torch.full((100, 10), -1.0)
        target[torch.arange(100), torch.from_numpy(train.labels[index]).long()] = 1.0
        loss = loss_fn(model(as_totensor(train.images[index])), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.clip_weights(-1, 1)
    model.eval()
    test = load_dataset("mnist", "test", mnist)
    with torch.no_grad():
        predicted = model(as_totensor(test.images[:1000])).argmax(1).numpy()
    accuracy = float((predicted == test.labels[:1000]).mean() * 100)
    experiments = tmp_path_factory.mktemp("experiments")
    return save_like_the_trainer(model, optimizer, experiments, "LFC_1W1A", accuracy)


def test_lfc_converts_and_agrees_with_brevitas(
    trained_lfc: Path, mnist: Path, tmp_path: Path, run_cli
) -> None:
    result = run_cli("convert", trained_lfc, "--out", tmp_path / "params", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["overlay"] == "lfcW1A1"  # from the experiment folder
    manifest = json.loads((tmp_path / "params" / "manifest.json").read_text())
    assert manifest["batchnorm"] == "Brevitas LFC_1W1A running variance"
    assert manifest["source"]["path"].endswith("checkpoints/best.tar")

    result = run_cli(
        "verify", tmp_path / "params", "--dataset", "mnist", "--data-dir", mnist,
        "--against", trained_lfc / "checkpoints" / "best.tar",
        "--report", tmp_path / "v.json", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 10000
    against = report["against"]
    assert against["model_accuracy"] > 80  # a trained network, not a constant one
    assert against["agreement"] == 100.0 and against["first_differing_layer"] is None
    assert against["disagreements"] == []


def test_float32_batchnorm_is_what_brevitas_computes(bnn_pynq, trained_lfc: Path, mnist) -> None:
    """The thresholds' float32 check evaluates each batch-norm as Brevitas's forward does: the
    same float32 values, bit for bit, on every sum real images reach."""
    models, _ = bnn_pynq
    checkpoint = trained_lfc / "checkpoints" / "best.tar"
    state = load_state_dict(checkpoint)
    model, _ = models.model_with_cfg("lfc_1w1a", pretrained=False)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model.eval()
    seen = {}
    for index in (2, 3, 6, 7, 10, 11, 14, 15):  # linear layers and their norms
        model.features[index].register_forward_hook(
            lambda _m, _i, out, index=index: seen.__setitem__(index, out.detach().numpy())
        )
    with torch.no_grad():
        model(as_totensor(load_dataset("mnist", "test", mnist).images[:500]))
    spec = load_overlay("lfcW1A1")
    for layer, (lin, norm) in zip(spec.layers, ((2, 3), (6, 7), (10, 11), (14, 15)), strict=True):
        sums = reachable_sums(layer)
        table = _brevitas_norm(state, f"features.{norm}", "lfc", layer)(sums)
        where = np.searchsorted(sums, seen[lin])
        assert np.array_equal(sums[where], seen[lin])  # every sum is a reachable one
        units = np.arange(seen[lin].shape[1])
        expected = table[where, units if table.shape[1] > 1 else 0]
        assert np.array_equal(expected, seen[norm])


@pytest.mark.parametrize("network", ["CNV_1W1A", "CNV_1W2A", "CNV_2W2A"])
def test_cnv_converts_and_agrees_with_brevitas(
    bnn_pynq, network: str, mnist: Path, tmp_path: Path, run_cli
) -> None:
    """CNVs (no CIFAR-10 here): Brevitas's model with batch-norm statistics gathered on a 32x32
    stand-in and randomised scales (a third negative), converted and verified on it."""
    models, _ = bnn_pynq
    torch.manual_seed(2)
    model, _ = models.model_with_cfg(network.lower(), pretrained=False)
    digits = load_dataset("mnist", "test", mnist)
    rgb = np.repeat(np.pad(digits.images[:300], ((0, 0), (2, 2), (2, 2)))[..., None], 3, axis=3)
    folder = tmp_path / "standin"
    from PIL import Image

    for split in ("train", "test"):  # an image folder has both; verify reads test/
        for i in range(40):
            (folder / split / str(digits.labels[i])).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb[i]).save(folder / split / str(digits.labels[i]) / f"{i}.png")
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                m.momentum = None  # cumulative averages over the batches below
                sign = torch.where(torch.rand(m.num_features, generator=gen) < 0.3, -1.0, 1.0)
                m.weight.copy_(sign * (0.5 + torch.rand(m.num_features, generator=gen)))
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
        model.train()
        for start in range(40, 300, 65):
            model(as_totensor(rgb[start : start + 65]))
    model.eval()
    optimizer = torch.optim.Adam(model.parameters())
    experiment = save_like_the_trainer(model, optimizer, tmp_path, network, 0.0)

    result = run_cli("convert", experiment, "--dataset", "cifar-10", "--out", tmp_path / "p")
    assert result.exit_code == 0, result.stderr
    result = run_cli(
        "verify", tmp_path / "p", "--dataset", folder, "--against", experiment,
        "--report", tmp_path / "v.json", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    against = json.loads(result.stdout)["against"]
    assert against["agreement"] == 100.0 and against["first_differing_layer"] is None
    # Not a constant network: Brevitas's own logits differ from image to image.
    with torch.no_grad():
        logits = model(as_totensor(rgb[:40])).numpy()
    assert len(np.unique(logits, axis=0)) > 20

    # A bare state dict (Brevitas's pretrained files) converts the same, given the overlay.
    torch.save(model.state_dict(), tmp_path / "weights.pth")
    overlay = {"CNV_1W1A": "cnvW1A1", "CNV_1W2A": "cnvW1A2", "CNV_2W2A": "cnvW2A2"}[network]
    result = run_cli(
        "convert", tmp_path / "weights.pth", "--overlay", overlay, "--dataset", "cifar-10",
        "--out", tmp_path / "q",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    for name in sorted(p.name for p in (tmp_path / "p").iterdir()):
        if name != "manifest.json":
            assert (tmp_path / "p" / name).read_bytes() == (tmp_path / "q" / name).read_bytes()


def test_a_tie_is_decided_as_brevitas_decides(bnn_pynq, tmp_path: Path) -> None:
    """A 2-bit activation rounds half to even: an output of exactly +0.5 is 0 in Brevitas, where
    bnntool's steps fire at >= 0.5. The neuron's mean moves so the overlay gives 0 there too."""
    models, _ = bnn_pynq
    model, _ = models.model_with_cfg("cnv_1w2a", pretrained=False)
    bn = model.linear_features[1]  # dense 256 -> 512, ternary inputs: every integer sum
    with torch.no_grad():
        bn.running_mean[0], bn.running_var[0] = 0.0, 1.0
        bn.weight[0], bn.bias[0] = 1.0, 0.5
        # At sum 0 Brevitas's batch-norm gives exactly 0.5 (float32, as PyTorch computes it).
        assert bn.eval()(torch.zeros(1, 512))[0, 0].item() == 0.5
    optimizer = torch.optim.Adam(model.parameters())
    experiment = save_like_the_trainer(model, optimizer, tmp_path, "CNV_1W2A", 0.0)
    spec = load_overlay("cnvW1A2")
    layers, notes = read_checkpoint(experiment / "checkpoints" / "best.tar", spec)
    assert any(n.startswith("layer 6 (linear_features.0): ") for n in notes), notes
    p = layers[6]
    assert 0 < p.mean[0] < 1e-5
    # bnntool's exact model of the moved neuron now gives 0 at sum 0 and +1 from sum 1 on.
    y = (np.array([0.0, 1.0]) - p.mean[0]) * p.gamma[0] * p.inv_std[0] + p.beta[0]
    assert y[0] < 0.5 <= y[1]
    # The check finds nothing left to move.
    state = load_state_dict(experiment / "checkpoints" / "best.tar")
    norm = _brevitas_norm(state, "linear_features.1", "cnv", spec.layers[6])
    assert match_float32(spec.layers[6], p, norm)[1] == []


@pytest.mark.parametrize(
    ("network", "overlay", "message"),
    [
        ("LFC_1W2A", None, "features.0 (the input quantizer) of Brevitas's LFC_1W2A has 2 bits"),
        ("TFC_1W1A", None, "is a Brevitas TFC_1W1A (its experiment folder says so); the stock"),
        ("LFC_1W1A", "lfcW1A2", "is a Brevitas LFC_1W1A (its experiment folder says so), but"),
        ("CNV_1W1A", "lfcW1A1", "unexpected key conv_features.1.weight for a LFC (a Brevitas CNV"),
    ],
)
def test_checkpoints_that_do_not_map_are_refused(
    bnn_pynq, network: str, overlay: str | None, message: str, tmp_path: Path, run_cli
) -> None:
    models, _ = bnn_pynq
    model, _ = models.model_with_cfg(network.lower(), pretrained=False)
    experiment = save_like_the_trainer(
        model, torch.optim.Adam(model.parameters()), tmp_path, network, 0.0
    )
    path = experiment / "checkpoints" / "best.tar"
    if overlay == "lfcW1A1":  # a file outside its experiment folder: the overlay decides
        path = path.rename(tmp_path / "cnv.tar")
    args = ("--overlay", overlay) if overlay else ()
    result = run_cli("convert", path, *args, "--out", tmp_path / "params")
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "params").exists()


def test_a_file_that_is_no_checkpoint(bnn_pynq, tmp_path: Path, run_cli) -> None:
    torch.save({"weights": [1, 2, 3]}, tmp_path / "other.pth")
    result = run_cli(
        "convert", tmp_path / "other.pth", "--overlay", "cnvW1A1", "--out", tmp_path / "p"
    )
    assert result.exit_code == 2 and "holds no state dict" in result.stderr
    (tmp_path / "cut.tar").write_bytes((tmp_path / "other.pth").read_bytes()[:40])
    result = run_cli(
        "convert", tmp_path / "cut.tar", "--overlay", "cnvW1A1", "--out", tmp_path / "p"
    )
    assert result.exit_code == 2 and "cut.tar" in result.stderr


def test_float32_batchnorm_of_a_cnv(bnn_pynq, mnist: Path) -> None:
    """The same for a CNV's BatchNorm2d (conv outputs, N x C x H x W) and BatchNorm1d, with
    2-bit weights and activations and randomised batch-norms."""
    models, _ = bnn_pynq
    torch.manual_seed(4)
    model, _ = models.model_with_cfg("cnv_2w2a", pretrained=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.randn(n))
                m.bias.copy_(torch.randn(n))
                m.running_mean.copy_(torch.randn(n) * 3)
                m.running_var.copy_(torch.rand(n) * 20 + 0.1)
    model.eval()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    pairs = [("conv_features", i, i + 1) for i in (1, 4, 8, 11, 15, 18)]
    pairs += [("linear_features", i, i + 1) for i in (0, 3)]
    seen = {}
    for container, lin, norm in pairs:
        for index in (lin, norm):
            getattr(model, container)[index].register_forward_hook(
                lambda _m, _i, out, key=(container, index): seen.__setitem__(key, out.numpy())
            )
    digits = load_dataset("mnist", "test", mnist).images[:64]
    rgb = np.repeat(np.pad(digits, ((0, 0), (2, 2), (2, 2)))[..., None], 3, axis=3)
    with torch.no_grad():
        model(as_totensor(rgb))
    spec = load_overlay("cnvW2A2")
    for layer, (container, lin, norm) in zip(spec.layers, pairs, strict=False):
        sums = reachable_sums(layer)
        table = _brevitas_norm(state, f"{container}.{norm}", "cnv", layer)(sums)
        got, out = seen[(container, lin)], seen[(container, norm)]
        if got.ndim == 4:  # N x C x H x W -> rows of C
            got, out = (a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1]) for a in (got, out))
        where = np.searchsorted(sums, got)
        assert np.array_equal(sums[where], got), layer.index
        assert np.array_equal(table[where, np.arange(got.shape[1])], out), layer.index
