"""cinlab: neural style transfer for teaching, after Dumoulin, Shlens & Kudlur (ICLR 2017).

Three methods side by side: Gatys optimisation (:func:`gatys`), single-style feed-forward
networks and the N-style network with conditional instance normalisation
(:class:`TransformerNet`, :class:`ConditionalInstanceNorm2d`), plus training
(:mod:`cinlab.train`), style mixing (:mod:`cinlab.mixing`), data (:mod:`cinlab.data`), losses,
plots and widgets.
"""

__version__ = "0.1.0"

from . import config, data, losses, mixing, plots
from .checkpoint import load_model, save_checkpoint
from .config import by_mode, fast_mode
from .data import center_crop, image_info, image_names, load_image, resize, save_image
from .gatys import gatys
from .loss_network import LossNetwork
from .losses import content_loss, gram_matrix, style_loss, total_variation
from .model import ConditionalInstanceNorm2d, TransformerNet
from .plots import show_images

__all__ = [
    "__version__",
    "config",
    "data",
    "losses",
    "mixing",
    "plots",
    "by_mode",
    "fast_mode",
    "center_crop",
    "image_info",
    "image_names",
    "load_image",
    "resize",
    "save_image",
    "gatys",
    "LossNetwork",
    "content_loss",
    "gram_matrix",
    "style_loss",
    "total_variation",
    "ConditionalInstanceNorm2d",
    "TransformerNet",
    "load_model",
    "save_checkpoint",
    "show_images",
]
