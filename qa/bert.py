"""BERT without torch: the configuration, the parameter shapes it implies, and a numpy forward pass.

Encoding one question (a few dozen tokens) in numpy takes milliseconds and spares a cold
start the torch import (about 1.5 s here); batches of passages and the reader run in torch
(``qa.encoder``), which is several times faster on long inputs. Both compute the same
function of the same Hugging Face-named parameters (post-layer-norm BERT, exact GELU,
absolute positions from 0: multilingual-e5-small's architecture).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int = 384
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_file(cls, path: str | Path) -> BertConfig:
        """Read a Hugging Face ``config.json`` (other keys are ignored)."""
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})

    def to_hf(self, **extra) -> dict:
        """A ``config.json`` that ``transformers`` reads as a BERT config."""
        return {
            "model_type": "bert",
            "hidden_act": "gelu",
            "position_embedding_type": "absolute",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "pad_token_id": 1,
            **asdict(self),
            **extra,
        }

    def shapes(self, prefix: str = "", qa_head: bool = False) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape (``prefix`` "bert." inside ``BertForQuestionAnswering``)."""
        h, f = self.hidden_size, self.intermediate_size
        out = {
            f"{prefix}embeddings.word_embeddings.weight": (self.vocab_size, h),
            f"{prefix}embeddings.position_embeddings.weight": (self.max_position_embeddings, h),
            f"{prefix}embeddings.token_type_embeddings.weight": (self.type_vocab_size, h),
            f"{prefix}embeddings.LayerNorm.weight": (h,),
            f"{prefix}embeddings.LayerNorm.bias": (h,),
        }
        for i in range(self.num_hidden_layers):
            p = f"{prefix}encoder.layer.{i}."
            for name in ("query", "key", "value"):
                out |= {f"{p}attention.self.{name}.weight": (h, h), f"{p}attention.self.{name}.bias": (h,)}
            out |= {
                f"{p}attention.output.dense.weight": (h, h),
                f"{p}attention.output.dense.bias": (h,),
                f"{p}attention.output.LayerNorm.weight": (h,),
                f"{p}attention.output.LayerNorm.bias": (h,),
                f"{p}intermediate.dense.weight": (f, h),
                f"{p}intermediate.dense.bias": (f,),
                f"{p}output.dense.weight": (h, f),
                f"{p}output.dense.bias": (h,),
                f"{p}output.LayerNorm.weight": (h,),
                f"{p}output.LayerNorm.bias": (h,),
            }
        if qa_head:
            out |= {"qa_outputs.weight": (2, h), "qa_outputs.bias": (2,)}
        return out


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a safetensors header, after checking the file holds all the data it
    describes (a truncated download fails here, before any weights are read)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if not 2 <= n <= min(size - 8, 1 << 27):
            raise ValueError(f"{path.name} is not a safetensors file")
        header = json.loads(f.read(n))
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max((v["data_offsets"][1] for v in tensors.values()), default=0)
    if size != 8 + n + end:
        raise ValueError(f"{path.name} has {size} bytes where its header describes {8 + n + end} (truncated?)")
    return {k: tuple(v["shape"]) for k, v in tensors.items()}


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26), enough for float32 activations."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return np.copysign(1.0 - poly * np.exp(-a * a), x)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    x = x - x.mean(-1, keepdims=True)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight + bias


class NumpyBert:
    """Token states of a BERT encoder, in numpy. ``word_rows(ids)`` returns the word-embedding rows of ``ids``
    (so a quantised table is expanded only for the tokens at hand); the other parameters come as float32
    arrays under their Hugging Face names."""

    def __init__(
        self, config: BertConfig, params: dict[str, np.ndarray], word_rows: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        self.config, self.word_rows = config, word_rows
        h = config.hidden_size
        shapes = config.shapes()
        self.params = {
            k: np.asarray(v, np.float32).reshape(shapes[k])
            for k, v in params.items()
            if k != "embeddings.word_embeddings.weight"
        }
        self.layers = []
        for i in range(config.num_hidden_layers):
            p = {
                k.split(f"encoder.layer.{i}.", 1)[1]: v
                for k, v in self.params.items()
                if k.startswith(f"encoder.layer.{i}.")
            }
            qkv = np.concatenate([p[f"attention.self.{n}.weight"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    np.ascontiguousarray(qkv.T),
                    np.concatenate([p[f"attention.self.{n}.bias"] for n in ("query", "key", "value")]),
                    np.ascontiguousarray(p["attention.output.dense.weight"].T),
                    p["attention.output.dense.bias"],
                    p["attention.output.LayerNorm.weight"],
                    p["attention.output.LayerNorm.bias"],
                    np.ascontiguousarray(p["intermediate.dense.weight"].T),
                    p["intermediate.dense.bias"],
                    np.ascontiguousarray(p["output.dense.weight"].T),
                    p["output.dense.bias"],
                    p["output.LayerNorm.weight"],
                    p["output.LayerNorm.bias"],
                )
            )
        self.head_dim = h // config.num_attention_heads

    def __call__(self, ids: np.ndarray, attention: np.ndarray) -> np.ndarray:
        """States (batch × length × hidden) for ``ids``; ``attention`` is 1 for real tokens, 0 for padding."""
        c, P = self.config, self.params
        b, n = ids.shape
        heads, d = c.num_attention_heads, self.head_dim
        x = (
            self.word_rows(ids.reshape(-1)).reshape(b, n, -1)
            + P["embeddings.position_embeddings.weight"][:n][None]
            + P["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, P["embeddings.LayerNorm.weight"], P["embeddings.LayerNorm.bias"], c.layer_norm_eps).reshape(
            b * n, -1
        )
        mask = np.where(attention == 0, np.float32(np.finfo(np.float32).min), np.float32(0))[:, None, None, :]
        eps = c.layer_norm_eps
        for qkv_w, qkv_b, ao_w, ao_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b in self.layers:
            q, k, v = (x @ qkv_w + qkv_b).reshape(b, n, 3, heads, d).transpose(2, 0, 3, 1, 4)
            s = (q @ k.transpose(0, 1, 3, 2)) * np.float32(d**-0.5) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(0, 2, 1, 3).reshape(b * n, -1)
            a = _layer_norm(a @ ao_w + ao_b + x, ln1_w, ln1_b, eps)
            hidden = a @ in_w + in_b
            hidden = 0.5 * hidden * (1.0 + _erf(hidden * np.float32(0.7071067811865476)))
            x = _layer_norm(hidden.astype(np.float32) @ out_w + out_b + a, ln2_w, ln2_b, eps)
        return x.reshape(b, n, -1)


def mean_pool(states: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """Mean of the token states over real tokens, L2-normalised (how e5 embeds a text)."""
    m = attention[..., None].astype(np.float32)
    pooled = (states * m).sum(1) / np.maximum(m.sum(1), 1.0)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)


def q4_values(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Float32 values of Q4_0 blocks given as codes (blocks × 16 bytes) and float16 scales (blocks × 1)."""
    values = np.concatenate([codes & 0x0F, codes >> 4], axis=1).astype(np.float32) - 8.0
    return (values * scale.astype(np.float32)).reshape(-1)
