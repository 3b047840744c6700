"""Export a trained network to TorchScript or ONNX, with the style weights as a second input.

The exported graph takes ``image`` [B, 3, H, W] in [0, 1] (H and W multiples of 4; pad first
otherwise) and ``style_weights`` [B, N] (mixing weights; one-hot for a single style) and
returns the stylised image [B, 3, H, W] in [0, 1]. Batch size, height and width are dynamic.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from .model import StyleCondition, TransformerNet


class ExportableNet(nn.Module):
    """``(image, style_weights) -> stylised image``: the network with weights as a plain input."""

    def __init__(self, net: TransformerNet):
        super().__init__()
        if net.config.norm != "cin":
            raise ValueError("Only conditional instance norm networks can be exported with style weights.")
        self.net = net.eval()

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        return self.net.body(image, StyleCondition("weights", style_weights))


def _examples(net: TransformerNet, size: int):
    image = torch.rand(1, 3, size, size)
    weights = torch.zeros(1, net.num_styles)
    weights[0, 0] = 1.0
    return image, weights


def _refuse(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")


def to_torchscript(net: TransformerNet, path: str | os.PathLike, *, example_size: int = 64, overwrite: bool = False) -> Path:
    """Trace to TorchScript and save; load with ``torch.jit.load(path)``."""
    path = Path(path)
    _refuse(path, overwrite)
    module = ExportableNet(net.cpu().float())
    with torch.no_grad(), warnings.catch_warnings():
        # The shape test in conditional_instance_norm is constant for weight inputs: safe to trace.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, _examples(net, example_size), check_trace=False)
    traced.save(str(path))
    return path


def to_onnx(net: TransformerNet, path: str | os.PathLike, *, example_size: int = 64, opset: int = 18, overwrite: bool = False) -> Path:
    """Export to ONNX (inputs ``image``, ``style_weights``; output ``stylized``)."""
    path = Path(path)
    _refuse(path, overwrite)
    module = ExportableNet(net.cpu().float())
    batch, height, width = (torch.export.Dim(n, min=1, max=8192) for n in ("batch", "height", "width"))
    torch.onnx.export(
        module,
        _examples(net, example_size),
        str(path),
        input_names=["image", "style_weights"],
        output_names=["stylized"],
        opset_version=opset,
        dynamo=True,
        dynamic_shapes={"image": {0: batch, 2: 4 * height, 3: 4 * width}, "style_weights": {0: batch}},
        external_data=False,
    )
    return path
