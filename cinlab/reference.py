"""The paper in plain PyTorch: the first page to read, and the oracle the library is tested against.

Everything here is written the straightforward way, with no speed tricks, so each line can be
checked against the paper (Dumoulin, Shlens & Kudlur, ICLR 2017) and magenta's code:

- :class:`PlainCIN`: conditional instance normalisation in five lines;
- :class:`PlainNet`: the style transfer network (reflection padding, bias-free convs, CIN
  after every conv, nearest-neighbour upsampling, a sigmoid), as in pytorch/examples'
  ``fast_neural_style``;
- :class:`PlainVGG`: torchvision's VGG-19 ``features`` with the embedded Caffe weights, run
  all the way to ``relu4_3``;
- :func:`plain_gram`, :func:`plain_losses`: the Gram matrix ``F F^T / (H W)`` and the loss;
- :func:`plain_training_step`: one N-style training step (a random style per example, that
  style's Gram targets, the loss, one Adam step);
- :func:`plain_gatys`: Gatys et al.'s pixel optimisation as a bare Adam loop.

The library (:mod:`cinlab.model`, :mod:`cinlab.losses`, :mod:`cinlab.train`) computes the
same functions faster; ``tests/test_numerics.py`` checks they agree to float32 rounding, and
the benchmarks time the library against this file in the same run.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from .loss_network import CAFFE_MEAN_RGB, layer_names, load_vgg19_caffe_state


class PlainCIN(nn.Module):
    """z = gamma[style] * (x - mean) / std + beta[style], statistics per example and channel."""

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
    def copy_from(self, net) -> "PlainNet":
        """Take cinlab's weights (same architecture), so both compute the same function."""
        ours = net.conv_layers()  # in forward order, as ours below
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


def plain_training_step(
    net, vgg, optimizer, content, style_grams, num_styles, content_weight=1.0, style_weight=1e-4, generator=None
):
    """One step of N-style training, the paper's Section 3 in a dozen lines; returns the loss.

    ``content`` is a batch [B, 3, H, W] in [0, 1]; ``style_grams`` holds each style's Gram
    targets ``{layer: [N, C, C]}``, computed once. Every example draws its own style.
    """
    labels = torch.randint(num_styles, (content.shape[0],), generator=generator).to(content.device)
    total, _, _ = plain_losses(net, vgg, style_grams, content, labels, content_weight, style_weight)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return total.item()


def plain_gatys(vgg, content, style, steps=100, style_weight=1e-4, lr=0.02):
    """Gatys et al.: optimise the pixels of a pastiche, starting from the photo, with Adam.

    ``content`` and ``style`` are [1, 3, H, W] in [0, 1] (sizes may differ); uses the layers of
    ``vgg`` (content: its content layer; style: its style layers). Returns the pastiche.
    """
    with torch.no_grad():
        target_content = vgg(content)[vgg.content_layer]
        target_grams = {layer: plain_gram(f) for layer, f in vgg(style).items() if layer in vgg.style_layers}
    pastiche = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([pastiche], lr=lr)
    for _ in range(steps):
        feats = vgg(pastiche)
        loss = F.mse_loss(feats[vgg.content_layer], target_content)
        for layer in vgg.style_layers:
            loss = loss + style_weight * ((plain_gram(feats[layer]) - target_grams[layer]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            pastiche.clamp_(0, 1)
    return pastiche.detach()
