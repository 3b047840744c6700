"""Export a trained network to TorchScript or ONNX, with the style weights as a second input.

The exported graph takes ``image`` [B, 3, H, W] in [0, 1] (any H, W >= 16, like
``TransformerNet``: reflect-padded to a multiple of 4 inside the graph and cropped back) and
``style_weights`` [B, N] (mixing weights; one-hot for a single style), and returns the stylised
image [B, 3, H, W] in [0, 1]. Batch size, height and width are dynamic. The network is exported
in eval mode, from a float32 CPU copy (the network passed in is not changed), and the file is
written atomically: a failure (a full disk included) leaves an older file byte-identical.
"""

from __future__ import annotations

import copy
import io
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


def to_onnx(net, path: str | os.PathLike, *, example_size: int = 64, opset: int = 18, overwrite: bool = False) -> Path:
    """Export to ONNX (inputs ``image``, ``style_weights``; output ``stylized``)."""
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
    return write_bytes(path, program.model_proto.SerializeToString(), overwrite=overwrite)
