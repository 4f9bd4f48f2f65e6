"""The network of a satunet model, built with torch.nn alone.

`satunet export CHECKPOINT --format state-dict --out DIR` writes this file as DIR/model.py,
beside DIR/model.pt (the weights: a state dict in torch.save's format) and DIR/model.json (the
network's options, the classes, the bands in input order with their normalisation, the tile
size). Nothing of satunet is needed to use them:

    import sys
    sys.path.insert(0, DIR)
    import model
    net, meta = model.load(DIR)                # eval mode, every weight loaded (strict)
    logits = net(model.normalise(pixels, meta))  # pixels: [N, bands, H, W] as the scene stores them

H and W must be multiples of 2 ** meta["levels"]. `meta["classes"][i]` names logits[:, i].

The plain U-Net keeps satunet's names for its weights. The U-Net over a ResNet encoder is
segmentation_models.pytorch's Unet, with its names: where meta["smp_unet"] is given, the same
state dict loads into `smp.Unet(**meta["smp_unet"])`.
"""
import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn


def make_norm(kind, channels, groups):
    """satunet's normalisation: batch, group (the most groups up to `groups` that divide the
    channels) or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, groups), channels)
    return nn.Identity()


def conv(in_channels, out_channels, kernel, bias, stride=1):
    """A convolution that keeps the size (odd kernels)."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=bias)


# ---- the plain U-Net ----


class ConvBlock(nn.Module):
    """3x3 conv, norm, ReLU, twice; residual blocks add the input (through a 1x1 convolution
    where the width changes) before the last ReLU."""

    def __init__(self, in_channels, out_channels, options):
        super().__init__()
        bias = options["norm"] == "none"  # a norm would cancel a bias
        self.conv1 = conv(in_channels, out_channels, 3, bias)
        self.norm1 = make_norm(options["norm"], out_channels, options["groups"])
        self.conv2 = conv(out_channels, out_channels, 3, bias)
        self.norm2 = make_norm(options["norm"], out_channels, options["groups"])
        self.residual = options["block"] == "residual"
        self.projection = None
        if self.residual and in_channels != out_channels:
            self.projection = conv(in_channels, out_channels, 1, False)

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        if self.residual:
            y = y + (x if self.projection is None else self.projection(x))
        return F.relu(y)


class DownBlock(nn.Module):
    def __init__(self, in_channels, out_channels, options):
        super().__init__()
        self.conv = ConvBlock(in_channels, out_channels, options)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        features = self.conv(x)
        return self.pool(features), features


class AttentionGate(nn.Module):
    """Weighs the skip's features by how relevant the coarser gating signal finds each pixel."""

    def __init__(self, gate_channels, skip_channels, inner, options):
        super().__init__()
        self.gate = nn.Sequential(conv(gate_channels, inner, 1, True))
        self.skip = nn.Sequential(conv(skip_channels, inner, 1, False))
        self.psi = nn.Sequential(conv(inner, 1, 1, True))
        if options["norm"] != "none":
            self.gate.add_module("1", make_norm(options["norm"], inner, options["groups"]))
            self.skip.add_module("1", make_norm(options["norm"], inner, options["groups"]))

    def forward(self, gate, skip):
        return skip * torch.sigmoid(self.psi(F.relu(self.gate(gate) + self.skip(skip))))


class UpBlock(nn.Module):
    def __init__(self, in_channels, out_channels, options):
        super().__init__()
        self.transpose = None
        self.reduce = None
        if options["upsampling"] == "transpose":
            self.transpose = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        else:
            self.reduce = conv(in_channels, out_channels, 1, True)
        self.attention = None
        if options["attention"]:
            inner = max(1, out_channels // 2)
            self.attention = AttentionGate(out_channels, out_channels, inner, options)
        self.conv = ConvBlock(2 * out_channels, out_channels, options)

    def forward(self, x, skip):
        if self.transpose is not None:
            up = self.transpose(x)
        else:
            up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            up = self.reduce(up)
        gated = skip if self.attention is None else self.attention(up, skip)
        return self.conv(torch.cat([gated, up], 1))


class UNet(nn.Module):
    """satunet's plain U-Net: `depth` poolings, `base` channels doubled at each level."""

    def __init__(self, options):
        super().__init__()
        self.dropout = nn.Dropout2d(options["dropout"])  # at the bottleneck, while training
        self.down = nn.ModuleList()
        channels = options["in_channels"]
        for level in range(options["depth"]):
            width = options["base"] << level
            self.down.append(DownBlock(channels, width, options))
            channels = width
        self.bottleneck = ConvBlock(channels, 2 * channels, options)
        channels *= 2
        self.up = nn.ModuleList()
        for level in reversed(range(options["depth"])):
            width = options["base"] << level
            self.up.append(UpBlock(channels, width, options))
            channels = width
        self.head = conv(channels, options["classes"], 1, True)

    def forward(self, x):
        skips = []
        for block in self.down:
            x, features = block(x)
            skips.append(features)
        x = self.dropout(self.bottleneck(x))
        for block in self.up:
            x = block(x, skips.pop())
        return self.head(x)


# ---- a ResNet (torchvision's names) under segmentation_models.pytorch's U-Net decoder ----

RESNETS = {  # units per stage, bottleneck units
    "resnet18": ([2, 2, 2, 2], False),
    "resnet34": ([3, 4, 6, 3], False),
    "resnet50": ([3, 4, 6, 3], True),
}


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (resnet18, resnet34)."""

    expansion = 1

    def __init__(self, in_channels, planes, stride):
        super().__init__()
        self.conv1 = conv(in_channels, planes, 3, False, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_channels != planes:
            self.downsample = nn.Sequential(conv(in_channels, planes, 1, False, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (resnet50; the stride on the 3x3 convolution, as v1.5)."""

    expansion = 4

    def __init__(self, in_channels, planes, stride):
        super().__init__()
        out_channels = planes * 4
        self.conv1 = conv(in_channels, planes, 1, False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, False, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv(planes, out_channels, 1, False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                conv(in_channels, out_channels, 1, False, stride), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNetEncoder(nn.Module):
    """A torchvision ResNet without its classifier, as segmentation_models.pytorch's encoder:
    the features at strides 2, 4, 8, 16 and 32."""

    def __init__(self, name, in_channels):
        super().__init__()
        units, bottleneck = RESNETS[name]
        unit = Bottleneck if bottleneck else BasicBlock
        self.conv1 = conv(in_channels, 64, 7, False, 2)
        self.bn1 = nn.BatchNorm2d(64)
        channels = 64
        for stage, count in enumerate(units):
            planes = 64 << stage
            layer = nn.Sequential()
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layer.add_module(str(index), unit(channels, planes, stride))
                channels = planes * unit.expansion
            self.add_module("layer%d" % (stage + 1), layer)
        self.out_channels = [64] + [(64 << stage) * unit.expansion for stage in range(4)]

    def forward(self, x):
        features = [F.relu(self.bn1(self.conv1(x)))]
        y = F.max_pool2d(features[-1], 3, stride=2, padding=1)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            y = layer(y)
            features.append(y)
        return features


class Conv2dReLU(nn.Sequential):
    """segmentation_models.pytorch's Conv2dReLU: convolution, norm (or an identity), ReLU."""

    def __init__(self, in_channels, out_channels, options):
        norm = make_norm(options["norm"], out_channels, options["groups"])
        super().__init__(conv(in_channels, out_channels, 3, options["norm"] == "none"), norm, nn.ReLU())


class DecoderBlock(nn.Module):
    """x2 nearest-neighbour upsampling, the skip of that scale concatenated, two Conv2dReLU."""

    def __init__(self, in_channels, skip_channels, out_channels, options):
        super().__init__()
        self.conv1 = Conv2dReLU(in_channels + skip_channels, out_channels, options)
        self.conv2 = Conv2dReLU(out_channels, out_channels, options)

    def forward(self, x, skip=None):
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return self.conv2(self.conv1(x))


class UnetDecoder(nn.Module):
    def __init__(self, encoder_channels, widths, options):
        super().__init__()
        skips = list(reversed(encoder_channels[:-1])) + [0]
        inputs = [encoder_channels[-1]] + widths[:-1]
        self.center = nn.Identity()
        self.blocks = nn.ModuleList(
            DecoderBlock(i, s, o, options) for i, s, o in zip(inputs, skips, widths)
        )

    def forward(self, features):
        x = self.center(features[-1])
        skips = list(reversed(features[:-1]))
        for index, block in enumerate(self.blocks):
            x = block(x, skips[index] if index < len(skips) else None)
        return x


class ResNetUNet(nn.Module):
    """segmentation_models.pytorch's Unet over a ResNet encoder, with its module names."""

    def __init__(self, options):
        super().__init__()
        base = options["base"]
        widths = [base * 16, base * 8, base * 4, base * 2, base]
        self.encoder = ResNetEncoder(options["encoder"], options["in_channels"])
        self.dropout = nn.Dropout2d(options["dropout"])  # on the deepest features, while training
        self.decoder = UnetDecoder(self.encoder.out_channels, widths, options)
        self.segmentation_head = nn.Sequential(
            nn.Conv2d(base, options["classes"], 3, padding=1), nn.Identity(), nn.Identity()
        )

    def forward(self, x):
        features = self.encoder(x)
        features[-1] = self.dropout(features[-1])
        return self.segmentation_head(self.decoder(features))


def build(options):
    """The network model.json's "model" describes, with fresh weights."""
    if options.get("encoder", "plain") == "plain":
        return UNet(options)
    return ResNetUNet(options)


def load(directory=None):
    """The exported network in eval mode with its weights, and model.json's contents."""
    directory = directory or os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(directory, "model.json"), encoding="utf-8") as file:
        meta = json.load(file)
    net = build(meta["model"])
    state = torch.load(os.path.join(directory, "model.pt"), map_location="cpu")
    net.load_state_dict(state, strict=True)
    return net.eval(), meta


def normalise(pixels, meta):
    """The model's input from pixels as the scene stores them ([N, bands, H, W], the bands in
    meta["bands"]' order): (value - mean) / std per band, as satunet computes it (std floored at
    1e-6; values that are not finite read as 0)."""
    mean = torch.tensor([band["mean"] for band in meta["bands"]], dtype=torch.float32)
    scale = torch.tensor([1.0 / max(band["std"], 1e-6) for band in meta["bands"]], dtype=torch.float32)
    x = torch.nan_to_num(pixels.float(), nan=0.0, posinf=0.0, neginf=0.0)
    return (x - mean.view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1)
