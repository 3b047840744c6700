"""A plain, eager, float32 implementation of the paper's network and training step.

Written the way a straightforward implementation would be (pytorch/examples ``fast_neural_style``
style): ``nn.ReflectionPad2d`` + ``nn.Conv2d`` layers, instance norm via ``F.instance_norm`` then
the style's (gamma, beta) rows, a torchvision VGG-19 ``features`` stack cut after ``relu4_3``
that also runs the content images all the way through, Gram matrices by ``bmm``. Same
architecture, weights and losses as cinlab, so both can run on the same inputs; the benchmarks
compare cinlab against it in the same run. Not part of the library.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from cinlab.loss_network import CAFFE_MEAN_RGB, layer_names, load_vgg19_caffe_state
from cinlab.model import TransformerNet


class PlainCIN(nn.Module):
    def __init__(self, channels, num_styles):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(num_styles, channels))
        self.beta = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, x, labels):
        x = F.instance_norm(x, eps=1e-5)
        return x * self.gamma[labels][:, :, None, None] + self.beta[labels][:, :, None, None]


class PlainConv(nn.Module):
    def __init__(self, cin, cout, kernel, stride, num_styles, upsample=False):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest") if upsample else None
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, bias=False)
        self.norm = PlainCIN(cout, num_styles)

    def forward(self, x, labels):
        if self.upsample is not None:
            x = self.upsample(x)
        return self.norm(self.conv(self.pad(x)), labels)


class PlainResidual(nn.Module):
    def __init__(self, channels, num_styles):
        super().__init__()
        self.a = PlainConv(channels, channels, 3, 1, num_styles)
        self.b = PlainConv(channels, channels, 3, 1, num_styles)

    def forward(self, x, labels):
        return x + self.b(F.relu(self.a(x, labels)), labels)


class PlainNet(nn.Module):
    def __init__(self, num_styles):
        super().__init__()
        self.c1 = PlainConv(3, 32, 9, 1, num_styles)
        self.c2 = PlainConv(32, 64, 3, 2, num_styles)
        self.c3 = PlainConv(64, 128, 3, 2, num_styles)
        self.res = nn.ModuleList([PlainResidual(128, num_styles) for _ in range(5)])
        self.u1 = PlainConv(128, 64, 3, 1, num_styles, upsample=True)
        self.u2 = PlainConv(64, 32, 3, 1, num_styles, upsample=True)
        self.out = PlainConv(32, 3, 9, 1, num_styles)

    def forward(self, x, labels):
        x = F.relu(self.c1(x, labels))
        x = F.relu(self.c2(x, labels))
        x = F.relu(self.c3(x, labels))
        for block in self.res:
            x = block(x, labels)
        x = F.relu(self.u1(x, labels))
        x = F.relu(self.u2(x, labels))
        return torch.sigmoid(self.out(x, labels))

    @torch.no_grad()
    def copy_from(self, net: TransformerNet) -> "PlainNet":
        """Take cinlab's weights (same architecture), so both compute the same function."""
        ours = [net.conv1, net.conv2, net.conv3] + [c for b in net.residuals for c in (b.conv1, b.conv2)] + [net.up1, net.up2, net.out]
        plain = [self.c1, self.c2, self.c3] + [c for b in self.res for c in (b.a, b.b)] + [self.u1, self.u2, self.out]
        for o, p in zip(ours, plain):
            p.conv.weight.copy_(o.conv.weight)
            p.norm.gamma.copy_(o.norm.gamma)
            p.norm.beta.copy_(o.norm.beta)
        return self


class PlainVGG(nn.Module):
    """torchvision's VGG-19 features up to relu4_3 with the embedded Caffe weights."""

    def __init__(self, style_layers=("relu1_2", "relu2_2", "relu3_3", "relu4_3"), content_layer="relu3_3"):
        super().__init__()
        names = layer_names("vgg19")
        self.depth = names.index("relu4_3") + 1
        self.features = torchvision.models.vgg19(weights=None).features[: self.depth]
        state = {k: v for k, v in load_vgg19_caffe_state().items() if int(k.split(".")[0]) < self.depth}
        self.features.load_state_dict(state)
        self.features.requires_grad_(False).eval()
        for m in self.features:
            if isinstance(m, nn.ReLU):
                m.inplace = False
        self.names = names
        self.style_layers, self.content_layer = style_layers, content_layer
        self.register_buffer("mean_bgr", torch.tensor(CAFFE_MEAN_RGB[::-1]).view(1, 3, 1, 1))

    def forward(self, x):
        x = x[:, [2, 1, 0]] * 255 - self.mean_bgr
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if self.names[i] in self.style_layers or self.names[i] == self.content_layer:
                out[self.names[i]] = x
        return out


def plain_gram(x):
    b, c, h, w = x.shape
    f = x.view(b, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (h * w)


def plain_losses(net, vgg, style_grams, content, labels, content_weight=1.0, style_weight=1e-4):
    """The same per-batch loss as cinlab's trainer, computed plainly; returns (total, content, style)."""
    out = net(content, labels)
    f_out = vgg(out)
    f_content = vgg(content)  # the whole stack, as the plain implementation does
    c = F.mse_loss(f_out[vgg.content_layer], f_content[vgg.content_layer])
    s = 0.0
    for layer in vgg.style_layers:
        g = plain_gram(f_out[layer])
        s = s + ((g - style_grams[layer][labels]) ** 2).mean()
    return content_weight * c + style_weight * s, c, s
