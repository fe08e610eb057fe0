"""The MPS network (Multi-dimensional Preference Score, Zhang et al., CVPR 2024), in torch.

MPS is a CLIP (ViT-H/14 in the released checkpoint) fine-tuned on human preferences,
plus a *condition-aware fusion* stack that lets the image attend to the prompt tokens
that matter for a preference condition:

1. Text: the prompt is tokenised to CLIP's full context (padded to ``model_max_length``,
   no attention mask, as the authors do) and every token's last hidden state is
   projected (``text_projection``) -> ``T [L, D]``; the pooled EOS token projected is the
   prompt embedding ``t [D]``.
2. Image: every token of the vision encoder's last hidden state (class token + patches,
   before the post-layernorm) is projected (``visual_projection``) -> ``I [P, D]``.
3. Condition mask: the condition text (for the released "overall" model, a list of 22
   aspects: light, colour, clarity...) is encoded like the prompt -> ``C [L, D]``. Each
   prompt token's relevance is ``max_j C_j . T_i``, divided by the largest relevance of
   the prompt; tokens below ``threshold`` are masked out (additive -inf).
4. Fusion: ``layers`` x [cross-attention of image tokens to the unmasked prompt tokens
   (multi-query: one shared key/value head) with a parallel SwiGLU feed-forward, then a
   parallel self-attention + SwiGLU block with rotary positions], each residual; the
   pre-norms are LayerNorms without bias.
5. Score: ``logit_scale.exp() * cos(fused class token, t)``.

Checkpoint keys (a ``torch.save`` of the authors' module) and how they map here:
``model.*`` -> ``clip.*`` (a transformers ``CLIPModel``), ``cross_model.layers.{i}.0.fn.*``
-> ``fusion.{i}.cross.*``, ``cross_model.layers.{i}.1.fn.*`` -> ``fusion.{i}.self_ff.*``
(``ff_out.1`` -> ``ff_out``). Dropped: the fixed all-zero LayerNorm ``bias`` buffers, the
rotary ``inv_freq`` buffers (recomputed; base 10000), and the CLIP ``position_ids``
buffers older transformers saved. All are checked, not assumed (see :func:`map_mps_keys`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class FusionSpec:
    """Shape of the fusion stack; read from a checkpoint, so no setting is needed."""

    dim: int
    layers: int
    heads: int
    dim_head: int
    ff_inner: int

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> FusionSpec:
        layer_ids = {int(m.group(1)) for k in state if (m := re.match(r"fusion\.(\d+)\.", k))}
        if not layer_ids or layer_ids != set(range(len(layer_ids))):
            raise ValueError(f"no fusion layers 0..n-1 in the checkpoint (found layer ids {sorted(layer_ids)})")
        to_q, to_kv, ff_in = (state[f"fusion.0.cross.{k}.weight"] for k in ("to_q", "to_kv", "ff.0"))
        dim_head = int(to_kv.shape[0]) // 2
        return cls(dim=int(to_q.shape[1]), layers=len(layer_ids), heads=int(to_q.shape[0]) // dim_head,
                   dim_head=dim_head, ff_inner=int(ff_in.shape[0]) // 2)


class _LayerNormNoBias(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.weight)


def _swiglu(x: torch.Tensor) -> torch.Tensor:
    value, gate = x.chunk(2, dim=-1)
    return F.silu(gate) * value


class _SwiGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _swiglu(x)


def _rotate(t: torch.Tensor, n: int, dim_head: int) -> torch.Tensor:
    """Rotary position embedding of the last two dims ``[..., n, dim_head]`` (halves rotated, base 10000)."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, dim_head, 2, device=t.device, dtype=torch.float32) / dim_head))
    angles = torch.outer(torch.arange(n, device=t.device, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    first, second = t.float().chunk(2, dim=-1)
    rotated = torch.cat([-second, first], dim=-1)
    return (t.float() * angles.cos() + rotated * angles.sin()).to(t.dtype)


class CrossAttention(nn.Module):
    """Image tokens attend to text tokens (multi-query), plus a parallel SwiGLU feed-forward."""

    def __init__(self, spec: FusionSpec) -> None:
        super().__init__()
        self.heads, self.dim_head = spec.heads, spec.dim_head
        self.norm = _LayerNormNoBias(spec.dim)
        self.to_q = nn.Linear(spec.dim, spec.heads * spec.dim_head, bias=False)
        self.to_kv = nn.Linear(spec.dim, 2 * spec.dim_head, bias=False)
        self.to_out = nn.Linear(spec.heads * spec.dim_head, spec.dim, bias=False)
        self.ff = nn.Sequential(nn.Linear(spec.dim, 2 * spec.ff_inner, bias=False), _SwiGLU(),
                                nn.Linear(spec.ff_inner, spec.dim, bias=False))

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x [N, P, D]``, ``context [N, L, D]``, additive ``mask [N, P, L]`` -> ``[N, P, D]`` (residual excluded)."""
        h = self.norm(x)
        n, p, _ = h.shape
        q = self.to_q(h).view(n, p, self.heads, self.dim_head).transpose(1, 2) / math.sqrt(self.dim_head)
        k, v = self.to_kv(context).chunk(2, dim=-1)  # one key/value head shared by all query heads
        attn = (q @ k.unsqueeze(1).transpose(-1, -2) + mask.unsqueeze(1)).softmax(dim=-1)
        out = (attn @ v.unsqueeze(1)).transpose(1, 2).reshape(n, p, self.heads * self.dim_head)
        return self.to_out(out) + self.ff(h)


class ParallelSelfBlock(nn.Module):
    """Self-attention (multi-query, rotary, unmasked) and SwiGLU feed-forward from one fused projection."""

    def __init__(self, spec: FusionSpec) -> None:
        super().__init__()
        self.heads, self.dim_head, self.ff_inner = spec.heads, spec.dim_head, spec.ff_inner
        self.norm = _LayerNormNoBias(spec.dim)
        fused = spec.heads * spec.dim_head + 2 * spec.dim_head + 2 * spec.ff_inner  # q, k, v, feed-forward
        self.fused_attn_ff_proj = nn.Linear(spec.dim, fused, bias=False)
        self.attn_out = nn.Linear(spec.heads * spec.dim_head, spec.dim, bias=False)
        self.ff_out = nn.Linear(spec.ff_inner, spec.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        n, p, _ = h.shape
        q, k, v, ff = self.fused_attn_ff_proj(h).split(
            [self.heads * self.dim_head, self.dim_head, self.dim_head, 2 * self.ff_inner], dim=-1)
        q = _rotate(q.view(n, p, self.heads, self.dim_head).transpose(1, 2), p, self.dim_head)
        k = _rotate(k, p, self.dim_head)
        attn = ((q / math.sqrt(self.dim_head)) @ k.unsqueeze(1).transpose(-1, -2)).softmax(dim=-1)
        out = (attn @ v.unsqueeze(1)).transpose(1, 2).reshape(n, p, self.heads * self.dim_head)
        return self.attn_out(out) + self.ff_out(_swiglu(ff))


class FusionLayer(nn.Module):
    def __init__(self, spec: FusionSpec) -> None:
        super().__init__()
        self.cross = CrossAttention(spec)
        self.self_ff = ParallelSelfBlock(spec)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.cross(x, context, mask)
        return x + self.self_ff(x)


class MPSModel(nn.Module):
    """CLIP + condition-aware fusion. ``clip`` is a transformers ``CLIPModel``."""

    def __init__(self, clip: nn.Module, spec: FusionSpec) -> None:
        super().__init__()
        if clip.config.projection_dim != spec.dim:
            raise ValueError(f"MPS fusion width {spec.dim} != CLIP projection_dim {clip.config.projection_dim}")
        self.clip = clip
        self.fusion = nn.ModuleList([FusionLayer(spec) for _ in range(spec.layers)])

    def encode_text(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, L]`` ids -> (every token projected ``[B, L, D]``, pooled EOS projected ``[B, D]``)."""
        out = self.clip.text_model(input_ids=input_ids)
        proj = self.clip.text_projection
        return proj(out.last_hidden_state), proj(out.pooler_output)

    def encode_image_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` -> every vision token (pre post-layernorm) projected ``[N, P, D]``."""
        hidden = self.clip.vision_model(pixel_values=pixel_values).last_hidden_state
        return self.clip.visual_projection(hidden)

    @staticmethod
    def condition_mask(tokens: torch.Tensor, condition_tokens: torch.Tensor, threshold: float) -> torch.Tensor:
        """Additive mask ``[B, L]``: 0 for prompt tokens relevant to the condition, -inf otherwise.

        The relevance is normalised by each prompt's own maximum (the authors divide by the
        batch maximum and score one prompt per batch, which is the same thing).
        """
        relevance = torch.einsum("bid,jd->bij", tokens.float(), condition_tokens.float()).amax(dim=-1)
        relevance = relevance / relevance.amax(dim=-1, keepdim=True)
        return torch.zeros_like(relevance).masked_fill(relevance <= threshold, float("-inf"))

    def forward(self, pixel_values: torch.Tensor, prompt_ids: torch.Tensor, condition_ids: torch.Tensor,
                image_to_prompt: torch.Tensor, threshold: float) -> torch.Tensor:
        """MPS of each image against its prompt.

        Args:
            pixel_values: ``[N, 3, H, W]`` processed images.
            prompt_ids: ``[B, L]`` prompt token ids, padded to the full context.
            condition_ids: ``[1, L]`` the condition's token ids.
            image_to_prompt: ``long [N]``, the prompt row of each image.
            threshold: relevance below which a prompt token is masked.

        Returns: ``float32 [N]``, ``logit_scale.exp() * cosine`` (within +-100 for CLIP's capped scale).
        """
        tokens, pooled = self.encode_text(prompt_ids)
        condition_tokens, _ = self.encode_text(condition_ids)
        mask = self.condition_mask(tokens, condition_tokens[0], threshold).to(tokens.dtype)
        x = self.encode_image_tokens(pixel_values)
        context, mask = tokens[image_to_prompt], mask[image_to_prompt].unsqueeze(1).expand(-1, x.shape[1], -1)
        for layer in self.fusion:
            x = layer(x, context, mask)
        image = F.normalize(x[:, 0].float(), dim=-1)
        text = F.normalize(pooled[image_to_prompt].float(), dim=-1)
        return self.clip.logit_scale.exp().float() * (image * text).sum(dim=-1)


# --- checkpoint keys ---------------------------------------------------------------------

_RENAMES = [
    (re.compile(r"^model\."), "clip."),
    (re.compile(r"^cross_model\.layers\.(\d+)\.0\.fn\."), r"fusion.\1.cross."),
    (re.compile(r"^cross_model\.layers\.(\d+)\.1\.fn\."), r"fusion.\1.self_ff."),
    (re.compile(r"^(fusion\.\d+\.self_ff\.)ff_out\.1\."), r"\1ff_out."),
]


def map_mps_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' checkpoint keys -> :class:`MPSModel` keys (module docstring).

    Keys already in our layout pass through, so a state dict saved from :class:`MPSModel`
    loads too. Raises ValueError when a dropped buffer does not hold what it must (a zero
    LayerNorm bias, base-10000 rotary frequencies): that would mean a different model.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("position_ids"):
            continue
        for pattern, repl in _RENAMES:
            key = pattern.sub(repl, key)
        if key.startswith("fusion.") and key.endswith(".norm.bias"):
            if value.count_nonzero():
                raise ValueError(f"MPS checkpoint: {key} is not all zeros; this fusion layout is not the MPS one")
            continue
        if key.endswith(".rotary_emb.inv_freq"):
            d = 2 * value.numel()
            expected = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
            if not torch.allclose(value.float(), expected, rtol=1e-3):
                raise ValueError(f"MPS checkpoint: {key} is not base-10000 rotary frequencies")
            continue
        out[key] = value
    return out
