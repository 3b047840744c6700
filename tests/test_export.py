"""TorchScript and ONNX export, checked against the eager network on random inputs."""

import warnings

import numpy as np
import pytest
import torch

from cinlab.export import to_onnx, to_torchscript
from cinlab.model import TransformerNet


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    net = TransformerNet(num_styles=3, width=0.25).eval()
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(mean=1.0, std=0.5)
    return net


# Sizes the network takes: multiples of 4 and two odd ones (padded inside the graph and cropped back).
INPUTS = [
    (torch.rand(1, 3, 32, 32), torch.tensor([[0.0, 1.0, 0.0]])),
    (torch.rand(2, 3, 40, 52), torch.rand(2, 3)),
    (torch.rand(1, 3, 37, 45), torch.tensor([[0.2, 0.0, 0.8]])),
    (torch.rand(1, 3, 128, 171), torch.tensor([[1.0, 0.0, 0.0]])),
]


def test_torchscript_parity(net, tmp_path):
    path = to_torchscript(net, tmp_path / "net.ts")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(path))
    with torch.no_grad():
        for image, weights in INPUTS:
            out = loaded(image, weights)
            assert out.shape == image.shape  # 128x171 came back 128x172 before the padding moved into the graph
            torch.testing.assert_close(out, net(image, weights), rtol=1e-5, atol=1e-5)
    with pytest.raises(FileExistsError):
        to_torchscript(net, path)


def test_onnx_parity_with_onnxruntime(net, tmp_path):
    import onnxruntime as ort

    path = to_onnx(net, tmp_path / "net.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "style_weights"]
    with torch.no_grad():
        for image, weights in INPUTS:
            (out,) = session.run(None, {"image": image.numpy(), "style_weights": weights.numpy()})
            assert out.shape == tuple(image.shape)
            np.testing.assert_allclose(out, net(image, weights).numpy(), rtol=1e-4, atol=1e-4)


def test_export_runs_in_eval_mode_and_leaves_the_network_as_it_was(tmp_path):
    net = TransformerNet(num_styles=2, width=0.25).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "Exporting a model while it is in training mode"
        to_torchscript(net, tmp_path / "a.ts")
    assert net.training and next(net.parameters()).dtype == torch.float32
