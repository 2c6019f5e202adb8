"""DINOv2 ViT-L/14 (Oquab et al. 2023) CLS-token features, as dgm-eval (Stein et al., NeurIPS 2023)
computes them for FD-DINOv2.

dgm-eval's ``DINOv2Encoder`` (default ``arch="vitl14"``, ``clean_resize=False``) loads
``torch.hub.load("facebookresearch/dinov2", "dinov2_vitl14")`` and transforms each PIL image with
``TF.Resize((224, 224), BICUBIC)``, ``ToTensor()`` and ``Normalize`` with the ImageNet mean
(0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); the feature is the model's output, the
final-LayerNorm CLS token (1024-d). This extractor does the same (rdpbench.features.preprocessing).

torch-fidelity 0.4's ``feature_extractor_dinov2`` is not used: it downloads the network's code
from GitHub through ``torch.hub.load`` (no offline path), and its preprocessing differs from
dgm-eval's in a way that changes values: TensorFlow-1-style bilinear resizing without
antialiasing (``interpolate_bilinear_2d_like_tensorflow1x``) instead of Pillow's antialiased
bicubic. The network is timm's ``VisionTransformer``, whose parameter names are those of
Meta's checkpoint, configured from the checkpoint (width, depth, patch size, MLP width; 64-wide
heads as in every DINOv2 ViT) with the hub models' settings (LayerNorm eps 1e-6, layer scale,
qkv bias, class token, no register tokens). DINOv2 trains at 518 px (37 x 37 patch positions) and
interpolates the position embeddings to the input's 16 x 16 patch grid on every forward pass
(``interpolate_pos_encoding``: bicubic with the ``scale_factor`` (16 + 0.1) / 37, no
antialiasing); :func:`dinov2_position_embedding` does that once at load time.
"""

from __future__ import annotations

from rdpbench.features.base import FeatureExtractor
from rdpbench.features.preprocessing import pil_bicubic
from rdpbench.weights import load_torch_file

DINOV2_WEIGHTS = "dinov2_vitl14_pretrain.pth"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HEAD_WIDTH = 64  # every DINOv2 ViT: ViT-S 384/6, ViT-B 768/12, ViT-L 1024/16, ViT-g 1536/24
INTERPOLATE_OFFSET = 0.1  # dinov2.hub.backbones default


class DINOv2ViTL14(FeatureExtractor):
    name = "dinov2-vit-l-14"
    dimension = 1024
    input_size = 224
    weight_files = (DINOV2_WEIGHTS,)
    convention = ("DINOv2 ViT-L/14 final-LayerNorm CLS token, as dgm-eval (Stein et al. 2023): uint8 patch resized "
                  "to 224 px by Pillow bicubic (antialiased), /255, ImageNet mean/std; position embeddings "
                  "interpolated from 37x37 to 16x16 as DINOv2 does (bicubic, scale (16+0.1)/37, no antialias); "
                  "timm VisionTransformer with Meta's checkpoint")

    def build(self):
        state = load_torch_file(self.context.weights.read(DINOV2_WEIGHTS))
        width = state["cls_token"].shape[-1] if "cls_token" in state else None
        if width != self.dimension:
            raise ValueError(f"{DINOV2_WEIGHTS} holds no {self.dimension}-wide DINOv2 ViT (width {width}); "
                             "replace it with the upstream file")
        network = dinov2_network(state, self.input_size).to(self.context.device)
        device = self.context.device
        return lambda batch: network(pil_bicubic(batch, self.input_size, IMAGENET_MEAN, IMAGENET_STD).to(device))


def dinov2_network(state: dict, image_size: int):
    """timm ``VisionTransformer`` for ``image_size`` px inputs holding a DINOv2 checkpoint (Meta's
    parameter names; ``mask_token``, used only in training, is dropped); eval mode, CPU. Its
    output is the final-LayerNorm CLS token, (B, width)."""
    from timm.models.vision_transformer import VisionTransformer

    state = {key: value for key, value in state.items() if key != "mask_token"}
    width = state["cls_token"].shape[-1]
    patch = state["patch_embed.proj.weight"].shape[-1]
    depth = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
    hidden = state["blocks.0.mlp.fc1.weight"].shape[0]
    network = VisionTransformer(img_size=image_size, patch_size=patch, embed_dim=width, depth=depth,
                                num_heads=width // HEAD_WIDTH, mlp_ratio=hidden / width, qkv_bias=True,
                                init_values=1.0, num_classes=0, global_pool="token")
    state["pos_embed"] = dinov2_position_embedding(state["pos_embed"], image_size // patch)
    network.load_state_dict(state, strict=True)
    return network.eval().requires_grad_(False)


def dinov2_position_embedding(position_embedding, grid: int):
    """DINOv2's ``interpolate_pos_encoding`` for a square ``grid`` x ``grid`` patch layout: (1, 1 + M*M,
    D) -> (1, 1 + grid*grid, D), the class position kept, the M x M patch positions resized
    bicubically with the scale factor (grid + 0.1) / M and no antialiasing, in float32."""
    import math

    import torch

    previous_dtype = position_embedding.dtype
    embedding = position_embedding.float()
    positions = embedding.shape[1] - 1
    side = int(math.sqrt(positions))
    if side * side != positions:
        raise ValueError(f"position embedding of {positions} patches is not a square grid")
    if side == grid:
        return position_embedding
    scale = float(grid + INTERPOLATE_OFFSET) / side
    patches = torch.nn.functional.interpolate(
        embedding[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2),
        scale_factor=(scale, scale), mode="bicubic", antialias=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)
    return torch.cat((embedding[:, :1], patches), dim=1).to(previous_dtype)
