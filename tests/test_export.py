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
    net = TransformerNet(3, width=0.25).eval()
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(mean=1.0, std=0.5)
    return net


INPUTS = [(torch.rand(1, 3, 32, 32), torch.tensor([[0.0, 1.0, 0.0]])), (torch.rand(2, 3, 40, 52), torch.rand(2, 3))]


def test_torchscript_parity(net, tmp_path):
    path = to_torchscript(net, tmp_path / "net.ts")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(path))
    with torch.no_grad():
        for image, weights in INPUTS:
            torch.testing.assert_close(loaded(image, weights), net(image, weights), rtol=1e-5, atol=1e-5)
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
            np.testing.assert_allclose(out, net(image, weights).numpy(), rtol=1e-4, atol=1e-4)
