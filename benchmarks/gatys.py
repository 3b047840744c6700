"""Gatys optimisation: cinlab against a plain reference written as the official PyTorch tutorial
writes it ("Neural Transfer Using PyTorch": loss modules inserted into an nn.Sequential, an
L-BFGS closure that clamps the image, ``while run[0] <= num_steps``).

Same weights (the embedded VGG-19), same layers and loss weights, same images, same run. The
reference is adapted in two places so that both solve exactly the same problem: Gram matrices
are divided by H*W (cinlab's convention; the tutorial divides by C*H*W), and it stops after
exactly ``--steps`` function evaluations (one per L-BFGS iteration without line search).

Prints seconds per iteration and the loss reached (all final images scored by one objective),
and the ratios cinlab / reference: target speed ratio >= 1 (no slower) and loss ratio <= 1.
A third row runs the reference with its loss pre-multiplied by the constant cinlab's L-BFGS
uses (see ``cinlab.optimization``): with cinlab's loss weights the plain reference's L-BFGS
diverges, and that row shows why.

    python benchmarks/gatys.py                 # CPU, 256 px, 60 iterations
    python benchmarks/gatys.py --size 512 --steps 300 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import cinlab
from cinlab.optimization import (
    GATYS_CONTENT_LAYERS,
    GATYS_STYLE_LAYERS,
    GATYS_STYLE_WEIGHT,
    LBFGS_GRADIENT_SCALE,
    gatys,
    gatys_loss,
    gatys_objective,
)
from cinlab.loss_network import LossNetwork, layer_names


# ----------------------------------------------------------------------------- the tutorial's way


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, input):
        self.loss = F.mse_loss(input, self.target)
        return input


def tutorial_gram_matrix(input):
    a, b, c, d = input.size()
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(c * d)  # tutorial: a * b * c * d; H*W here to match cinlab's loss


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = tutorial_gram_matrix(target_feature).detach()

    def forward(self, input):
        G = tutorial_gram_matrix(input)
        self.loss = F.mse_loss(G, self.target)
        return input


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = mean.clone().detach().view(-1, 1, 1)
        self.std = std.clone().detach().view(-1, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std


def get_style_model_and_losses(cnn, mean, std, style_img, content_img, content_layers, style_layers):
    normalization = Normalization(mean, std)
    content_losses, style_losses = [], []
    model = nn.Sequential(normalization)
    for name, layer in zip(layer_names("vgg19"), cnn.children()):
        if isinstance(layer, nn.ReLU):
            layer = nn.ReLU(inplace=False)
        model.add_module(name, layer)
        if name in content_layers:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{name}", content_loss)
            content_losses.append(content_loss)
        if name in style_layers:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{name}", style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    return model[: (i + 1)], style_losses, content_losses


def run_style_transfer(cnn, mean, std, content_img, style_img, input_img, num_steps, style_weight, content_weight):
    model, style_losses, content_losses = get_style_model_and_losses(
        cnn, mean, std, style_img, content_img, GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS
    )
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = torch.optim.LBFGS([input_img])
    run = [0]
    while run[0] < num_steps:  # tutorial: <= (one extra evaluation); < gives exactly num_steps

        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            if run[0] >= num_steps:  # LBFGS may call again inside one .step(); stop exactly
                return torch.zeros((), device=input_img.device)
            model(input_img)
            style_score = sum(sl.loss for sl in style_losses)
            content_score = sum(cl.loss for cl in content_losses)
            loss = style_score * style_weight + content_score * content_weight
            loss.backward()
            run[0] += 1
            return loss

        optimizer.step(closure)
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img


# ----------------------------------------------------------------------------- the benchmark


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--content", default="tubingen")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each (best is reported)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    content = cinlab.load_image(args.content, args.size).to(device)
    # The tutorial's model needs style and content of one size (a known limitation; cinlab does not).
    style = cinlab.load_image(args.style, tuple(content.shape[-2:])).to(device)
    layers = tuple(dict.fromkeys(GATYS_CONTENT_LAYERS + GATYS_STYLE_LAYERS))
    net = LossNetwork("vgg19", layers=layers).to(device)

    loss = gatys_loss(loss_network=net)

    def ours():
        return gatys(content, style, steps=args.steps, loss=loss, device=device, progress=False).image

    objective = gatys_objective(loss, content, [style], [1.0])

    def reference(loss_scale=1.0):
        cnn = LossNetwork("vgg19", layers=layers).features.to(device)  # same weights
        return run_style_transfer(
            cnn,
            net.mean.flatten(),
            net.std.flatten(),
            content,
            style,
            content.clone(),
            args.steps,
            GATYS_STYLE_WEIGHT * loss_scale,
            loss_scale,
        ).detach()

    # The constant cinlab's L-BFGS multiplies the loss by (see cinlab.optimization): given to
    # the reference too, it shows the two optimisers are otherwise the same algorithm.
    x = content.clone().requires_grad_(True)
    objective(x)["total"].backward()
    prescale = LBFGS_GRADIENT_SCALE / x.grad.abs().max().item()

    # Warm-up (kernel selection, caches) on a small problem for both.
    gatys(content[..., :64, :64], style[..., :64, :64], steps=2, loss=loss, device=device, progress=False)

    results = {}
    runs = (
        ("reference (tutorial)", reference),
        ("reference, pre-scaled", lambda: reference(prescale)),
        ("cinlab", ours),
    )
    for name, fn in runs:
        best, image = float("inf"), None
        for _ in range(args.repeats):
            sync(device)
            start = time.perf_counter()
            image = fn()
            sync(device)
            best = min(best, time.perf_counter() - start)
        with torch.no_grad():
            loss = objective(image.to(device).clamp(0, 1))["total"].item()
        results[name] = (best / args.steps, best, loss)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"Gatys, {args.content} x {args.style}, {tuple(content.shape[-2:])} px, {args.steps} L-BFGS iterations, {name}"
    )
    print(f"{'implementation':<22} {'s/iter':>9} {'total s':>9} {'final loss':>12}")
    for k, (per, total, loss) in results.items():
        print(f"{k:<22} {per:>9.4f} {total:>9.2f} {loss:>12.5g}")
    ref, scaled, our = results["reference (tutorial)"], results["reference, pre-scaled"], results["cinlab"]
    print(f"speed ratio (reference s/iter / cinlab s/iter, >= 1 is no slower): {ref[0] / our[0]:.3f}")
    print(f"loss ratio (cinlab / reference, <= 1 is at least as low): {our[2] / ref[2]:.4f}")
    print(f"loss ratio (cinlab / pre-scaled reference): {our[2] / scaled[2]:.4f}")


if __name__ == "__main__":
    main()
