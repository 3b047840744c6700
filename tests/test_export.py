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


@pytest.fixture(scope="module")
def onnx32(net, tmp_path_factory):
    """The network exported to ONNX with float32 weights (once for the module: an export takes seconds)."""
    return to_onnx(net, tmp_path_factory.mktemp("onnx") / "net.onnx")


def test_onnx_parity_with_onnxruntime(net, onnx32):
    import onnxruntime as ort

    path = onnx32
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


def test_onnx_float16_weights_halve_the_file_and_compute_in_float32(net, onnx32, tmp_path):
    import json

    import onnx
    import onnxruntime as ort

    from cinlab.export import float16_weights

    path = to_onnx(net, tmp_path / "net16.onnx", weights="float16")
    model = onnx.load(str(path))
    assert json.loads({p.key: p.value for p in model.metadata_props}["style_names"]) == net.style_names
    big = [i for i in model.graph.initializer if np.prod(i.dims) >= 16]
    assert big and all(i.data_type == onnx.TensorProto.FLOAT16 for i in big)
    # Every float16 weight is cast to float32 before use: the arithmetic stays float32.
    casts = {n.input[0] for n in model.graph.node if n.op_type == "Cast"}
    assert {i.name for i in big} <= casts
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].type == "tensor(float)"
    with torch.no_grad():
        for image, weights in INPUTS:
            (out,) = session.run(None, {"image": image.numpy(), "style_weights": weights.numpy()})
            # The weights are rounded to float16 (relative error <= 2**-11), nothing else changes.
            np.testing.assert_allclose(out, net(image, weights).numpy(), atol=2e-3)

    # Half the weights' bytes (the graph itself is the same); the float32 model is left as it was.
    model32 = onnx.load(str(onnx32))
    converted = float16_weights(model32)
    assert all(i.data_type == onnx.TensorProto.FLOAT for i in model32.graph.initializer if np.prod(i.dims) >= 16)
    assert len(converted.graph.node) == len(model32.graph.node) + len(big)
    weight_bytes = lambda m: sum(len(i.raw_data) for i in m.graph.initializer)  # noqa: E731
    assert weight_bytes(model) < 0.51 * weight_bytes(model32)


def test_onnx_float16_refuses_what_it_cannot_store(tmp_path):
    import onnx
    from onnx import helper, numpy_helper

    from cinlab.export import float16_weights

    with pytest.raises(ValueError, match="weights must be one of"):
        to_onnx(TransformerNet(num_styles=2, width=0.25), tmp_path / "x.onnx", weights="int8")
    assert not (tmp_path / "x.onnx").exists()
    huge = numpy_helper.from_array(np.full((4, 4), 1e6, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4, 4])],
        initializer=[huge],
    )
    with pytest.raises(ValueError, match="float16's range"):
        float16_weights(helper.make_model(graph))
