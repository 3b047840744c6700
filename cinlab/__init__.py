"""cinlab: neural style transfer for teaching, after Dumoulin, Shlens & Kudlur (ICLR 2017).

Three methods side by side: Gatys optimisation (:func:`gatys`), single-style feed-forward
networks and the N-style network with conditional instance normalisation
(:class:`TransformerNet`, :class:`ConditionalInstanceNorm2d`), plus training (:class:`Trainer`),
style mixing (:mod:`cinlab.style`), images (:mod:`cinlab.images`, :mod:`cinlab.registry`),
losses, evaluation, plots and widgets. :mod:`cinlab.reference` is the paper in plain PyTorch.

A map of the package, one module per chapter of the paper, plumbing below:

============================  ==============================================================
``reference``                 the paper in plain PyTorch (read this first)
``losses``, ``loss_network``  Gram matrices, content and style losses; the frozen VGG
``optimization``              Gatys et al.: optimise the pixels (and texture synthesis)
``norms``, ``model``          CIN (the normalisers, one table); the network; its config
``style``                     how a style or a mixture is written
``embedding``                 the style embedding: each style as a point, its (gamma, beta)
``content``, ``train``        training crops; the trainer, its config and presets
``evaluation``                the evaluation protocol, logs, the Fig 5-7 measurements
``artefacts``                 checkerboards, borders and the bright blob, measured
``paper``                     the paper's settings; how a network's training differs
``plots``, ``widgets``        figures and live ipywidgets
``images``, ``registry``      image tensors; the catalogue of paintings and photos
``checkpoint``, ``export``    files of trained networks; TorchScript and ONNX
``shipped``                   the networks and logs that ship with cinlab, by name
``hardware``, ``files``       devices and precision; safe writes and locks
``config``, ``cli``           environment settings; the command line
============================  ==============================================================
"""

from . import (
    artefacts,
    config,
    embedding,
    evaluation,
    hardware,
    images,
    losses,
    norms,
    paper,
    plots,
    reference,
    registry,
    shipped,
    style,
)
from ._version import __version__
from .checkpoint import load_model, save_checkpoint
from .config import by_mode, fast_mode
from .hardware import default_device
from .images import center_crop, load_image, resize, save_image, square
from .loss_network import LossNetwork
from .losses import StyleTransferLoss, content_loss, gram_matrix, style_loss, total_variation
from .model import ModelConfig, TransformerNet
from .norms import ConditionalInstanceNorm2d
from .optimization import gatys
from .plots import show_images
from .registry import image_info, image_names
from .shipped import shipped_models
from .train import TrainConfig, Trainer

__all__ = [
    "__version__",
    "artefacts",
    "config",
    "embedding",
    "evaluation",
    "hardware",
    "images",
    "losses",
    "norms",
    "paper",
    "plots",
    "reference",
    "registry",
    "shipped",
    "style",
    "by_mode",
    "fast_mode",
    "default_device",
    "center_crop",
    "load_image",
    "resize",
    "save_image",
    "square",
    "image_info",
    "image_names",
    "LossNetwork",
    "StyleTransferLoss",
    "content_loss",
    "gram_matrix",
    "style_loss",
    "total_variation",
    "ConditionalInstanceNorm2d",
    "ModelConfig",
    "TransformerNet",
    "load_model",
    "shipped_models",
    "save_checkpoint",
    "gatys",
    "TrainConfig",
    "Trainer",
    "show_images",
]
