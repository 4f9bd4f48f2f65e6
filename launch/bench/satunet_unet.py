"""satunet's plain U-Net in PyTorch, its parameter names kept, so that a satunet checkpoint's
weights load into it (torch.jit.load reads satunet's archives). The Python references of
`launch/bench.sh python` and of the GPU kit (launch/gpu/torch_reference.py) both use it.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, inputs, outputs):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(outputs)

    def forward(self, x):
        x = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(x)))


class Down(nn.Module):
    def __init__(self, inputs, outputs):
        super().__init__()
        self.conv = ConvBlock(inputs, outputs)


class Up(nn.Module):
    def __init__(self, inputs, outputs):
        super().__init__()
        self.transpose = nn.ConvTranspose2d(inputs, outputs, 2, stride=2)
        self.conv = ConvBlock(2 * outputs, outputs)


class UNet(nn.Module):
    """satunet's plain U-Net (batch norm, transposed convolutions), its parameter names kept."""

    def __init__(self, bands, classes, base, depth):
        super().__init__()
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        channels = bands
        for level in range(depth):
            self.down.append(Down(channels, base << level))
            channels = base << level
        self.bottleneck = ConvBlock(channels, 2 * channels)
        channels *= 2
        for level in reversed(range(depth)):
            self.up.append(Up(channels, base << level))
            channels = base << level
        self.head = nn.Conv2d(channels, classes, 1)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block.conv(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for block in self.up:
            up = block.transpose(x)
            x = block.conv(torch.cat([skips.pop(), up], 1))
        return self.head(x)
