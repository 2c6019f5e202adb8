"""The HiFiC architecture (Mentzer et al. 2020) with a mean-scale hyperprior, in PyTorch.

Module and parameter names are those of NeuralCompression's ``HiFiCAutoencoder``, so its public
checkpoints (MS-ILLM and no-GAN MS baselines, ``msillm_quality_1..6``/``noganms_quality_1..6``) load
as they are, and compression follows its ``compress``/``decompress`` step for step: reflect-pad
bottom/right to a multiple of 64, encoder, hyper-analysis, factorized entropy model for the hyper
latent, mean and scale synthesis, Gaussian conditional for the latent (compressai's entropy models);
decoding mirrors it and crops. Entropy coding always runs on the CPU; with ``device="cuda"`` only the
encoder and generator run on the GPU (as NeuralCompression's "compress" device mode does), which keeps
the probability tables identical on both sides.

Shapes: image (1, 3, H, W) in [0, 1] -> latent (1, C, H'/16, W'/16) -> hyper latent (1, 320, H'/64,
W'/64) with H', W' the padded size; C is 220 in the published models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.models import CompressionModel
from torch import nn

FACTOR = 64  # total downsampling of the hyper latent
WIDTHS = (60, 120, 240, 480, 960)


class ChannelNorm2D(nn.Module):
    """Normalise each pixel over channels: ``gamma * (x - mean_c) / sqrt(var_c + eps) + beta``
    (unbiased variance, eps 1e-3), HiFiC's replacement for instance norm."""

    def __init__(self, channels: int, epsilon: float = 1e-3):
        super().__init__()
        self.epsilon = epsilon
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        variance = x.var(dim=1, keepdim=True)
        return self.gamma * (x - mean) * torch.rsqrt(variance + self.epsilon) + self.beta


class HiFiCEncoder(nn.Module):
    """7x7 conv to 60, stride-2 3x3 convs to 120/240/480/960 (ChannelNorm + ReLU), 3x3 to the latent."""

    def __init__(self, latent_channels: int = 220):
        super().__init__()
        blocks, previous = [], 3
        for index, width in enumerate(WIDTHS):
            conv = (nn.Conv2d(previous, width, kernel_size=7, padding=3) if index == 0
                    else nn.Conv2d(previous, width, kernel_size=3, stride=2, padding=1))
            blocks.append(nn.Sequential(conv, ChannelNorm2D(width), nn.ReLU()))
            previous = width
        blocks.append(nn.Conv2d(previous, latent_channels, kernel_size=3, padding=1))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(x)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.sequence = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, padding=1), ChannelNorm2D(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, padding=1), ChannelNorm2D(channels))

    def forward(self, x):
        return x + self.sequence(x)


class HiFiCGenerator(nn.Module):
    """ChannelNorm + 3x3 conv to 960, residual blocks (with a skip around all of them), transposed
    convs to 480/240/120/60, 7x7 conv to RGB."""

    def __init__(self, latent_channels: int = 220, residual_blocks: int = 9):
        super().__init__()
        top = WIDTHS[-1]
        self.block_0 = nn.Sequential(ChannelNorm2D(latent_channels), nn.Conv2d(latent_channels, top, 3, padding=1),
                                     ChannelNorm2D(top))
        self.resid_blocks = nn.Sequential(*[_ResidualBlock(top) for _ in range(residual_blocks)])
        blocks, previous = [], top
        for width in reversed(WIDTHS[:-1]):
            blocks.append(nn.Sequential(
                nn.ConvTranspose2d(previous, width, kernel_size=3, stride=2, padding=1, output_padding=1),
                ChannelNorm2D(width), nn.ReLU()))
            previous = width
        blocks.append(nn.Conv2d(previous, 3, kernel_size=7, padding=3))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, latent):
        x = self.block_0(latent)
        return self.blocks(x + self.resid_blocks(x))


def _conv(cin, cout, kernel_size=5, stride=2):
    return nn.Conv2d(cin, cout, kernel_size, stride, padding=kernel_size // 2)


def _deconv(cin, cout):
    return nn.ConvTranspose2d(cin, cout, 5, 2, padding=2, output_padding=1)


def _hyper_synthesis(hyper_channels, latent_channels):
    return nn.Sequential(_deconv(hyper_channels, hyper_channels), nn.ReLU(inplace=True),
                         _deconv(hyper_channels, hyper_channels), nn.ReLU(inplace=True),
                         _conv(hyper_channels, latent_channels, kernel_size=3, stride=1))


class HiFiC(CompressionModel):
    """HiFiC autoencoder; sizes can be read off a checkpoint with :meth:`from_state_dict`."""

    def __init__(self, latent_channels: int = 220, hyper_channels: int = 320, residual_blocks: int = 9):
        super().__init__()
        self.encoder = HiFiCEncoder(latent_channels)
        self.decoder = HiFiCGenerator(latent_channels, residual_blocks)
        self.hyper_analysis = nn.Sequential(
            _conv(latent_channels, hyper_channels, kernel_size=3, stride=1), nn.ReLU(inplace=True),
            _conv(hyper_channels, hyper_channels), nn.ReLU(inplace=True), _conv(hyper_channels, hyper_channels))
        self.hyper_synthesis_mean = _hyper_synthesis(hyper_channels, latent_channels)
        self.hyper_synthesis_scale = _hyper_synthesis(hyper_channels, latent_channels)
        self.hyper_bottleneck = EntropyBottleneck(hyper_channels)
        self.latent_bottleneck = GaussianConditional(scale_table=None)

    @classmethod
    def from_state_dict(cls, state: dict) -> "HiFiC":
        """Build a model whose sizes match ``state`` and load it (CDF buffers of any size)."""
        residual_blocks = len({key.split(".")[2] for key in state if key.startswith("decoder.resid_blocks.")})
        model = cls(latent_channels=state["encoder.blocks.5.weight"].shape[0],
                    hyper_channels=state["hyper_analysis.0.weight"].shape[0], residual_blocks=residual_blocks)
        model.load_state_dict(state)
        return model

    def prepare(self, device: str, rebuild_tables: bool = False) -> "HiFiC":
        """Eval mode, probability tables built (if the checkpoint has none, or if ``rebuild_tables``),
        transforms on ``device``, entropy models and hyper transforms on the CPU."""
        self.eval()
        self.update(force=rebuild_tables)
        self.encoder.to(device)
        self.decoder.to(device)
        return self

    @torch.no_grad()
    def compress(self, image: torch.Tensor) -> tuple[list[bytes], tuple[int, int]]:
        """image (1, 3, H, W) in [0, 1] on the encoder's device -> ([hyper string, latent string], (H, W))."""
        height, width = image.shape[-2:]
        image = F.pad(image, (0, -width % FACTOR, 0, -height % FACTOR), mode="reflect")
        latent = self.encoder(image).cpu()
        hyper_latent = self.hyper_analysis(latent)
        hyper_strings = self.hyper_bottleneck.compress(hyper_latent)
        hyper_decoded = self.hyper_bottleneck.decompress(hyper_strings, hyper_latent.shape[-2:])
        means, scales = self.hyper_synthesis_mean(hyper_decoded), self.hyper_synthesis_scale(hyper_decoded)
        latent_strings = self.latent_bottleneck.compress(latent, self.latent_bottleneck.build_indexes(scales), means=means)
        return [hyper_strings[0], latent_strings[0]], (height, width)

    @torch.no_grad()
    def decompress(self, strings: list[bytes], size: tuple[int, int]) -> torch.Tensor:
        """Inverse of :meth:`compress`: (1, 3, H, W) in [0, 1] on the generator's device."""
        height, width = size
        latent_size = ((height + -height % FACTOR) // 16, (width + -width % FACTOR) // 16)
        hyper_decoded = self.hyper_bottleneck.decompress([strings[0]], (latent_size[0] // 4, latent_size[1] // 4))
        means, scales = self.hyper_synthesis_mean(hyper_decoded), self.hyper_synthesis_scale(hyper_decoded)
        latent = self.latent_bottleneck.decompress([strings[1]], self.latent_bottleneck.build_indexes(scales),
                                                   means=means)
        device = next(self.decoder.parameters()).device
        return self.decoder(latent.to(device))[:, :, :height, :width].clamp(0.0, 1.0)


def interpolate(state_a: dict, state_b: dict, alpha: float, everything: bool = False) -> dict:
    """Network interpolation (Iwai et al. 2020): floating-point decoder tensors become
    ``(1 - alpha) * A + alpha * B``; everything else comes from A and must equal B's, unless
    ``everything`` (then all floating-point tensors are mixed: encoder and entropy model too, so the
    rate changes with alpha; integer CDF tables must then be rebuilt with ``update(force=True)``)."""
    if state_a.keys() != state_b.keys():
        raise ValueError("the two checkpoints have different parameters: not one architecture")
    mixed, differing = {}, []
    for key, a in state_a.items():
        b = state_b[key]
        if a.shape != b.shape:
            raise ValueError(f"{key}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ")
        mix = a.is_floating_point() and (everything or key.startswith("decoder."))
        if not mix and not key.startswith("decoder.") and not torch.equal(a, b) and a.is_floating_point():
            differing.append(key)
        mixed[key] = (1 - alpha) * a + alpha * b if mix else a
    if differing:
        raise ValueError(f"the checkpoints' encoders or entropy models differ ({len(differing)} tensors, e.g. "
                         f"{differing[0]}): decoder interpolation needs a shared encoder; opt into interpolating "
                         "everything (interpolate=all), knowing that the rate then changes with alpha")
    return mixed
