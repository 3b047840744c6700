"""Export a trained network to TorchScript or ONNX, with the style weights as a second input.

The exported graph takes ``image`` [B, 3, H, W] in [0, 1] (any H, W >= 16, like
``TransformerNet``: reflect-padded to a multiple of 4 inside the graph and cropped back) and
``style_weights`` [B, N] (mixing weights; one-hot for a single style), and returns the stylised
image [B, 3, H, W] in [0, 1]. Batch size, height and width are dynamic. The network is exported
in eval mode, from a float32 CPU copy (the network passed in is not changed), and the file is
written atomically: a failure (a full disk included) leaves an older file byte-identical.

ONNX files can store the weights as float16 (``weights="float16"``): half the file (3.4 MB
instead of 6.8 MB at full width, small enough for a web page), while every operation still
runs in float32 (each weight is cast back once, inside the graph). The style names travel in
the file's metadata (``metadata_props["style_names"]``, a JSON list).
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .files import check_output, write_bytes
from .style import StyleCondition


class StyleBody(nn.Module):
    """The network's layers with mixing weights [B, N] as a plain tensor input (H, W multiples of 4)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        return self.net.body(x, StyleCondition("weights", style_weights))


class ExportableNet(nn.Module):
    """``(image, style_weights) -> stylised image`` for any H, W >= 16: pad, the body, crop back."""

    def __init__(self, net):
        super().__init__()
        if not net.has_style_rows:
            raise ValueError(
                f"Only networks whose styles are rows of their normalisers' tables (norm='cin') can be exported with "
                f"style weights; this one has norm={net.config.norm!r}."
            )
        self.body = StyleBody(copy.deepcopy(net).cpu().float().eval())
        self.eval()

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[2], image.shape[3]
        x = F.pad(image, [0, (4 - w % 4) % 4, 0, (4 - h % 4) % 4], mode="reflect")
        return self.body(x, style_weights)[:, :, :h, :w]


def _examples(num_styles: int, height: int, width: int):
    weights = torch.zeros(1, num_styles)
    weights[0, 0] = 1.0
    return torch.rand(1, 3, height, width), weights


def to_torchscript(net, path: str | os.PathLike, *, example_size: int = 64, overwrite: bool = False) -> Path:
    """Export to TorchScript (padding scripted, layers traced); load with ``torch.jit.load(path)``."""
    path = check_output(path, overwrite)
    module = ExportableNet(net)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices; the tests check the graph
        module.body = torch.jit.trace(
            module.body, _examples(net.num_styles, example_size, example_size), check_trace=False
        )
        scripted = torch.jit.script(module)
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)  # into memory first: a full disk must not abort the process
    return write_bytes(path, buffer.getvalue(), overwrite=overwrite)


#: Weight formats :func:`to_onnx` writes.
ONNX_WEIGHTS = ("float32", "float16")


def to_onnx(
    net,
    path: str | os.PathLike,
    *,
    example_size: int = 64,
    opset: int = 18,
    weights: str = "float32",
    overwrite: bool = False,
) -> Path:
    """Export to ONNX (inputs ``image``, ``style_weights``; output ``stylized``).

    ``weights="float16"`` stores the weights in half precision and computes in float32 (see
    :func:`float16_weights`): half the file, pictures within about one grey level (of 255).
    """
    if weights not in ONNX_WEIGHTS:
        raise ValueError(f"weights must be one of {ONNX_WEIGHTS}; got {weights!r}.")
    path = check_output(path, overwrite)
    module = ExportableNet(net)
    batch = torch.export.Dim("batch", min=1, max=1024)
    height, width = (torch.export.Dim(n, min=16, max=16384) for n in ("height", "width"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            _examples(net.num_styles, example_size, example_size + 3),
            input_names=["image", "style_weights"],
            output_names=["stylized"],
            opset_version=opset,
            dynamo=True,
            dynamic_shapes={"image": {0: batch, 2: height, 3: width}, "style_weights": {0: batch}},
            verbose=False,
        )
    proto = program.model_proto
    if weights == "float16":
        proto = float16_weights(proto)
    _set_metadata(proto, {"style_names": json.dumps(list(net.style_names))})
    return write_bytes(path, proto.SerializeToString(), overwrite=overwrite)


def float16_weights(model, min_elements: int = 16):
    """An ONNX model whose float32 weights are stored as float16 and cast back to float32 in the graph.

    Each float32 initializer with at least ``min_elements`` numbers becomes a float16 initializer
    and a ``Cast`` to float32 under the old name, so the arithmetic (convolutions, normalisation,
    the mixing of the style rows) stays float32; only the stored values are rounded (relative
    error <= 2**-11). Small tensors (shapes, scalars) are left as they are. Returns a new
    ``onnx.ModelProto``; ``model`` is not changed.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = copy.deepcopy(model)
    graph = model.graph
    taken = {i.name for i in graph.initializer} | {n for node in graph.node for n in node.output}
    kept, casts = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims, dtype=np.int64)) < min_elements:
            kept.append(init)
            continue
        values = numpy_helper.to_array(init)
        if np.abs(values).max(initial=0.0) > np.finfo(np.float16).max:
            raise ValueError(f"Weight {init.name!r} exceeds float16's range; export with weights='float32'.")
        half_name = f"{init.name}__float16"
        while half_name in taken:
            half_name += "_"
        taken.add(half_name)
        kept.append(numpy_helper.from_array(values.astype(np.float16), half_name))
        casts.append(helper.make_node("Cast", [half_name], [init.name], to=TensorProto.FLOAT, name=f"{half_name}_cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)  # the casts first: the graph stays topologically sorted
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def _set_metadata(model, values: dict[str, str]) -> None:
    existing = {p.key: p for p in model.metadata_props}
    for key, value in values.items():
        prop = existing.get(key) or model.metadata_props.add()
        prop.key, prop.value = key, value
