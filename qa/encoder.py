"""A BERT encoder in plain torch, with Hugging Face ``BertModel`` parameter names.

The bundled reader and passage embedding run through this module instead of ``transformers``
(whose BERT import alone takes about 6 s here); ``qa.bert`` runs the same model in numpy for
a one-off question before torch loads. The parameter names are those of ``BertForQuestionAnswering``
(``bert.embeddings.word_embeddings.weight`` … ``qa_outputs.bias``), so the same
safetensors file loads in ``transformers`` too. Post-layer-norm, exact GELU, absolute
positions from 0: the architecture of multilingual-e5-small.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .bert import BertConfig

__all__ = ["BertConfig", "BertModel", "BertForQuestionAnswering", "mean_pool"]


class _Embeddings(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, h = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, h // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=mask
        )
        return out.transpose(1, 2).reshape(b, n, h)


class _DenseNorm(nn.Module):
    """``LayerNorm(dense(x) + residual)``: BERT's attention output and layer output."""

    def __init__(self, d_in: int, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.add_module("self", _SelfAttention(c))  # the Hugging Face name
        self.output = _DenseNorm(c.hidden_size, c)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self._modules["self"](x, mask), x)


class _Intermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _DenseNorm(c.intermediate_size, c)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class _Encoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class BertModel(nn.Module):
    """Token states for ``ids`` (batch × length); ``attention`` is 1 for real tokens, 0 for padding."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    def forward(self, ids: torch.Tensor, attention: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embeddings(ids)
        mask = None
        if attention is not None and not bool(attention.all()):
            mask = torch.zeros(attention.shape, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill(attention == 0, torch.finfo(x.dtype).min)[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x


class BertForQuestionAnswering(nn.Module):
    """Start and end logits per token (``qa_outputs``: hidden → 2), as in Hugging Face."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.bert = BertModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)

    def forward(self, ids: torch.Tensor, attention: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.qa_outputs(self.bert(ids, attention))
        return logits[..., 0].float(), logits[..., 1].float()


def mean_pool(states: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over real tokens, L2-normalised (how e5 embeds a text)."""
    m = attention[..., None].to(states.dtype)
    return F.normalize((states * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)
