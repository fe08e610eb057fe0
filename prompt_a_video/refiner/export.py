"""Export a trained refiner as Hugging Face folders, and load it back.

An export folder (``export_refiner``)::

    OUT/refiner.json        how to prompt it: system prompt, user template, base model, what was trained
    OUT/adapter/            the LoRA adapter in PEFT format (adapter_config.json,
                            adapter_model.safetensors) + tokenizer and chat template;
                            it applies to the base model (for DPO: with the SFT adapter
                            ``base_adapter`` merged in, as in training)
    OUT/merged/             the adapter merged into the base: a plain HF model folder
                            (safetensors, config.json, generation_config.json) + tokenizer
                            and chat template; loads with AutoModelForCausalLM and vLLM

A full fine-tuning run (no LoRA) has no adapter: only ``merged/`` is written. Each of
``adapter/`` and ``merged/`` also carries a copy of ``refiner.json``, so a subfolder
copied elsewhere still says how it is prompted. ``merged/`` is a valid
``backbone.model`` for the next round of training (iterated DPO starts from the merged
result of the previous round).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REFINER_FILE = "refiner.json"
REFINER_FORMAT = "prompt-a-video/refiner"
REFINER_VERSION = 1


# --- loading a module from a Lightning checkpoint -------------------------------------

def _import_class(path: str) -> type:
    from importlib import import_module

    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ValueError(f"module class {path!r} is not a dotted import path (package.module.Class)")
    return getattr(import_module(module_name), name)


def _module_from_config(config_path: str | os.PathLike):
    """The LightningModule described by the ``model:`` section (class_path/init_args) of a
    `pav fit` YAML or of a run's ``config.yaml`` artifact."""
    import yaml
    from jsonargparse import ArgumentParser
    from lightning.pytorch import LightningModule

    with open(config_path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh) or {}
    section = config.get("model") if isinstance(config, dict) else None
    if not isinstance(section, dict) or "class_path" not in section:
        raise ValueError(f"{config_path}: expected a 'model:' section with class_path and init_args")
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(LightningModule, "model", fail_untyped=False)
    return parser.instantiate_classes(parser.parse_object({"model": section})).model


def _module_from_hparams(hparams: dict[str, Any], module_class: type | str | None, ckpt_path):
    hparams = dict(hparams)
    hparams.pop("_instantiator", None)
    class_path = hparams.get("_class_path")
    cls = module_class or class_path
    if cls is None:
        raise ValueError(f"{ckpt_path}: the checkpoint does not name its module class (it was not trained "
                         "with `pav fit`); pass module_class= or config_path= (the fit YAML)")
    cls = _import_class(cls) if isinstance(cls, str) else cls
    if class_path is not None:
        # Saved by the LightningCLI: init args are plain config values (dicts for dataclasses),
        # so jsonargparse rebuilds the typed objects exactly as `pav fit` did.
        from lightning.pytorch.cli import instantiate_module

        return instantiate_module(cls, hparams)
    return cls(**hparams)


def load_module_from_checkpoint(ckpt_path: str | os.PathLike, config_path: str | os.PathLike | None = None, *,
                                module_class: type | str | None = None):
    """A LightningModule with the weights of a checkpoint, on CPU, in eval mode.

    The module is built from the hyperparameters stored in the checkpoint
    (``save_hyperparameters``; `pav fit` also stores the class path), or from the
    ``model:`` section of ``config_path`` when given (e.g. when the base model moved:
    the state dict holds every weight, but the architecture is built from
    ``backbone.model``). Its model is created with ``configure_model()`` *before* the
    state dict is loaded, since the refiner modules build their LLM there.

    Args:
        ckpt_path: a ``.ckpt`` written by Lightning; read with :func:`read_checkpoint`,
            which refuses a file that would run code when unpickled.
        config_path: a `pav fit` YAML (or a run's ``config.yaml``) overriding the stored
            hyperparameters.
        module_class: the LightningModule class (or its import path) for checkpoints that
            do not record it (modules trained outside `pav fit`).
    """
    return _load_checkpoint(ckpt_path, config_path, module_class)[0]


def checkpoint_globals() -> list[type]:
    """The classes, beyond torch's defaults, that a checkpoint of our modules may hold: the
    dataclasses a module trained with a plain ``Trainer`` keeps in ``hyper_parameters``
    (`pav fit` stores plain config values instead). Rebuilding them runs no code: they are
    made without ``__init__`` and given their fields."""
    from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
    from prompt_a_video.modules.optim import StepPerEpoch, WarmupCosine, WarmupLinear

    return [CausalLMBackbone, LoraSpec, WarmupCosine, WarmupLinear, StepPerEpoch]


def read_checkpoint(ckpt_path: str | os.PathLike) -> dict[str, Any]:
    """A Lightning checkpoint's dict, read without running code from the file.

    ``torch.load(weights_only=True)`` with :func:`checkpoint_globals` allowed: tensors,
    plain containers and our config dataclasses load; anything else a pickle can name (a
    function to call, another class) is refused. Tensors are memory-mapped, not read.

    Raises:
        FileNotFoundError: no such file.
        ValueError: ``FILE: not a Lightning checkpoint (why)``, for a file torch cannot
            read, one that would run code, or a dict without ``state_dict``.
    """
    import pickle

    import torch

    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {ckpt_path}")
    try:  # mmap: tensors are paged in when used (load_state_dict copies them), not read up front
        with torch.serialization.safe_globals(checkpoint_globals()):
            checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError as refused:  # what weights_only says of a global it does not allow
        raise ValueError(f"{ckpt_path}: not a Lightning checkpoint ({_refusal(refused)})") from refused
    except (RuntimeError, EOFError, OSError, ValueError) as unreadable:  # not a torch.save zip, or a damaged one
        raise ValueError(f"{ckpt_path}: not a Lightning checkpoint ({_unreadable(ckpt_path, unreadable)})") \
            from unreadable
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{ckpt_path}: not a Lightning checkpoint (no 'state_dict')")
    return checkpoint


def _refusal(error: Exception) -> str:
    import re

    names = sorted(set(re.findall(r"GLOBAL (\S+)", str(error))))
    if not names:
        return f"torch refused to load it: {str(error).strip().splitlines()[0]}"
    return (f"loading it would call {', '.join(names)}, which a checkpoint of `pav fit` never holds; "
            "not loaded, as it could run code")


def _unreadable(path: Path, error: Exception) -> str:
    with open(path, "rb") as fh:
        starts_as_zip = fh.read(4) == b"PK\x03\x04"  # torch.save writes a zip archive
    if not starts_as_zip:
        return "not the zip archive that torch.save writes"
    said = str(error).strip() or type(error).__name__
    return f"a damaged or truncated torch.save file: {said.splitlines()[0].split('. ')[0]}"  # torch's first sentence


def _load_checkpoint(ckpt_path, config_path=None, module_class=None) -> tuple[Any, dict[str, Any]]:
    """``(module, {"path", "global_step", "epoch"})``; see :func:`load_module_from_checkpoint`."""
    ckpt_path = Path(ckpt_path)
    checkpoint = read_checkpoint(ckpt_path)
    if config_path is not None:
        module = _module_from_config(config_path)
    else:
        module = _module_from_hparams(checkpoint.get("hyper_parameters") or {}, module_class, ckpt_path)
    if hasattr(module, "configure_model"):
        module.configure_model()
    if hasattr(module, "on_load_checkpoint"):  # as Lightning does: e.g. DPO re-adds its frozen reference
        module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"], strict=True)
    module.eval()
    source = {"path": str(ckpt_path), "global_step": checkpoint.get("global_step"), "epoch": checkpoint.get("epoch")}
    return module, source


# --- export ---------------------------------------------------------------------------

def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # peft missing: nothing can be an adapter
        return False
    return isinstance(model, PeftModel)


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path is not None and Path(path).exists() else path


def refiner_settings(module, parts: list[str], source: dict[str, Any] | None = None,
                     target: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``refiner.json`` record of a module: its prompt, base model and training
    (``source``: the checkpoint it came from, if any; ``target``: the video model it was
    trained for, recorded when given)."""
    from prompt_a_video import __version__

    backbone = module.backbone
    lora = getattr(backbone, "lora", None) if _is_peft(module.model) else None
    all_hparams = dict(getattr(module, "hparams", {}) or {})
    hparams = {k: v for k, v in all_hparams.items() if not k.startswith("_") and isinstance(v, (int, float, str, bool))}
    settings = {
        "format": REFINER_FORMAT,
        "version": REFINER_VERSION,
        "prompt_format": backbone.prompt_format,
        "system_prompt": backbone.system_prompt,
        "user_template": backbone.user_template,
        "base_model": str(backbone.model),
        # DPO trains its adapter on base_model with the SFT adapter merged in: adapter/
        # applies to that merge (load_refiner does it), merged/ has everything.
        "base_adapter": _absolute(all_hparams.get("sft_adapter")),
        "dtype": backbone.dtype,
        "trained": {
            "module": f"{type(module).__module__}.{type(module).__qualname__}",
            "method": "lora" if lora is not None else "full",
            "lora": None if lora is None else {"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout,
                                               "target_modules": lora.target_modules},
            "hparams": hparams,
            "checkpoint": source,
        },
        "parts": parts,
        "exported": _dt.datetime.now().isoformat(timespec="seconds"),
        "pav_version": __version__,
    }
    if target is not None:
        settings["target"] = target
    return settings


def _write_settings(folder: Path, settings: dict[str, Any]) -> None:
    (folder / REFINER_FILE).write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@contextmanager
def _inference_config(model, tokenizer):
    """Config and generation config as a deployed model needs them, restored afterwards:
    KV cache on (gradient checkpointing turns it off), stop at eos *and* end-of-turn."""
    from prompt_a_video.refiner.generation import stop_token_ids

    use_cache, generation_config = model.config.use_cache, model.generation_config
    stops = stop_token_ids(tokenizer, model)
    model.generation_config = copy.deepcopy(generation_config)
    model.generation_config.eos_token_id = stops[0] if len(stops) == 1 else stops
    if tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = True
    try:
        yield model
    finally:
        model.config.use_cache, model.generation_config = use_cache, generation_config


def _save_adapter(model, tokenizer, folder: Path, settings: dict[str, Any]) -> None:
    model.save_pretrained(folder)  # PEFT: adapter_config.json + adapter_model.safetensors
    tokenizer.save_pretrained(folder)
    _write_settings(folder, settings)


def _save_merged(model, tokenizer, folder: Path, settings: dict[str, Any], in_place: bool) -> None:
    if _is_peft(model):
        # merge_and_unload rewrites the wrapped model: merge a copy unless the module is ours.
        model = (model if in_place else copy.deepcopy(model)).merge_and_unload()
    with _inference_config(model, tokenizer):
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _write_settings(folder, settings)


def export_refiner(module_or_checkpoint, out_dir: str | os.PathLike, merged: bool = True, adapter: bool = True,
                   *, overwrite: bool = False, target: dict[str, Any] | None = None) -> Path:
    """Write a refiner's adapter (PEFT) and/or merged model (HF) with tokenizer and prompt.

    Args:
        module_or_checkpoint: a refiner LightningModule (``model``, ``tokenizer``,
            ``backbone``; left untouched: the merge happens on a copy) or the path of a
            Lightning checkpoint (loaded with :func:`load_module_from_checkpoint` and
            merged in place, so no second copy of the weights is held).
        out_dir: the export folder; written to a temporary sibling first and moved into
            place, so a killed export leaves no half-written folder.
        merged: write ``merged/`` (the adapter merged into the base; the whole model
            after full fine-tuning).
        adapter: write ``adapter/`` (LoRA only; ignored after full fine-tuning).
        overwrite: replace an existing non-empty ``out_dir``.
        target: the video model the refiner was trained for, ``{"name", "prompt_token_limit"}``,
            recorded as ``"target"`` in every ``refiner.json`` (``pav refine`` warns past the limit).

    Returns:
        ``out_dir`` as a Path.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"export folder {out} exists and is not empty; pass overwrite=True (--overwrite true)")
    owned = isinstance(module_or_checkpoint, (str, os.PathLike))
    module, source = _load_checkpoint(module_or_checkpoint) if owned else (module_or_checkpoint, None)
    if getattr(module, "model", None) is None:
        module.configure_model()
    is_lora = _is_peft(module.model)
    parts = [name for name, wanted in (("adapter", adapter and is_lora), ("merged", merged)) if wanted]
    if not parts:
        why = "the model has no LoRA adapter (full fine-tuning)" if adapter else "merged and adapter are both false"
        raise ValueError(f"nothing to export: {why}; merged=True is needed")
    if adapter and not is_lora:
        log.info("full fine-tuning (no LoRA): writing merged/ only")
    settings = refiner_settings(module, parts, source, target)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        if "adapter" in parts:
            _save_adapter(module.model, module.tokenizer, staging / "adapter", settings)
        if "merged" in parts:
            _save_merged(module.model, module.tokenizer, staging / "merged", settings, in_place=owned)
        _write_settings(staging, settings)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("exported %s to %s", "+".join(parts), out)
    return out


# --- loading an export ----------------------------------------------------------------

def read_settings(folder: str | os.PathLike) -> dict[str, Any] | None:
    """``refiner.json`` of an export folder, or of the export a subfolder belongs to."""
    folder = Path(folder)
    for candidate in (folder / REFINER_FILE, folder.parent / REFINER_FILE):
        if candidate.is_file():
            settings = _read_json(candidate, "the export's settings file")
            if not isinstance(settings, dict) or settings.get("format") != REFINER_FORMAT:
                found = settings.get("format") if isinstance(settings, dict) else type(settings).__name__
                raise ValueError(f"{candidate}: not a refiner settings file (format {found!r})")
            return settings
    return None


def _read_json(file: Path, what: str) -> Any:
    """A JSON file of an export; a broken one is named with its line (it is not the user's
    own input, so say how to get a good one back)."""
    from prompt_a_video.data.errors import DataFormatError

    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problem = (f"not valid JSON: {exc.msg} (column {exc.colno}); {what} is damaged: fix it or export the "
                   "refiner again with `pav export`")
        raise DataFormatError(file, exc.lineno, problem) from exc


def check_safetensors(folder: Path) -> None:
    """Every ``*.safetensors`` file of ``folder`` has a whole header and all the bytes it
    announces (a copy cut short fails here, with the file's name, not deep in a loader).
    Reads the headers only."""
    from safetensors import SafetensorError, safe_open

    for file in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except SafetensorError as exc:
            raise ValueError(f"{file}: not a valid safetensors file ({exc}); the copy is damaged or cut short: "
                             "copy it again or export the refiner again with `pav export`") from exc


def _pick_part(folder: Path, use: str) -> tuple[str, Path]:
    if use not in ("auto", "merged", "adapter"):
        raise ValueError(f"use must be 'auto', 'merged' or 'adapter', got {use!r}")
    candidates = {"merged": folder / "merged", "adapter": folder / "adapter"}
    if (folder / "adapter_config.json").is_file():
        candidates = {"adapter": folder}
    elif (folder / "config.json").is_file():
        candidates = {"merged": folder}
    order = ["merged", "adapter"] if use == "auto" else [use]
    for part in order:
        path = candidates.get(part)
        if path is not None and path.is_dir():
            return part, path
    raise FileNotFoundError(f"{folder}: no {' or '.join(p + '/' for p in order)} model here (expected an export "
                            "folder of `pav export`, a merged HF folder or a PEFT adapter folder)")


def load_refiner(folder: str | os.PathLike, *, use: str = "auto", dtype: str | None = None, device: str | None = None,
                 prompt_format: str | None = None):
    """``(model, tokenizer, backbone)`` from an export folder, ready for ``refine_with``.

    Args:
        folder: an export folder (``refiner.json`` + ``merged/`` and/or ``adapter/``), or
            one of its subfolders, or any HF causal LM folder with a chat template.
        use: ``auto`` (merged if present, else base + adapter), ``merged`` or ``adapter``.
        dtype: float32 / bfloat16 / float16; default: the dtype it was trained in.
        device: move the model there (default: stays on CPU).
        prompt_format: how to prompt a folder without ``refiner.json`` (``default``, or
            ``paper`` for the paper's released refiners); an export's ``refiner.json``
            decides otherwise, and a different ``prompt_format`` is a ValueError.

    Returns:
        the model in eval mode; its tokenizer; a
        :class:`~prompt_a_video.modules.backbone.CausalLMBackbone` with the trained
        system prompt and user template (``lora=None``; ``model`` is the merged folder,
        or the adapter's base model, onto which ``base_adapter`` is merged first if the
        export records one).
    """
    from prompt_a_video.modules.backbone import PROMPT_FORMATS, CausalLMBackbone

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"refiner folder not found: {folder}")
    part, path = _pick_part(folder, use)
    settings = read_settings(path)
    check_safetensors(path)  # before the base model loads: minutes, for a big one
    if settings is None:
        chosen = prompt_format or "default"
        if chosen == "default":
            log.warning("%s has no %s: using the default system prompt and '{prompt}' as user template "
                        "(a refiner released by the paper's authors needs prompt_format='paper')",
                        folder, REFINER_FILE)
        system, template = PROMPT_FORMATS[chosen] if chosen in PROMPT_FORMATS else (None, None)
        settings = {"prompt_format": chosen, "system_prompt": system, "user_template": template}
    elif prompt_format is not None and prompt_format != settings.get("prompt_format", "default"):
        raise ValueError(f"{folder}: its {REFINER_FILE} says it was trained with prompt format "
                         f"{settings.get('prompt_format', 'default')!r}, not {prompt_format!r}")
    dtype = dtype or settings.get("dtype") or "float32"
    prompt = {"prompt_format": settings.get("prompt_format", "default")}
    if prompt["prompt_format"] == "default":  # an export may carry its own system prompt and template
        prompt.update(system_prompt=settings["system_prompt"], user_template=settings["user_template"])
    if part == "merged":
        backbone = CausalLMBackbone(model=str(path), dtype=dtype, lora=None, **prompt)
        model = backbone.load_model()
    else:
        from peft import PeftModel

        base = settings.get("base_model")
        if base is None:
            base = _read_json(path / "adapter_config.json", "the adapter's config file")["base_model_name_or_path"]
        if settings.get("base_adapter") and Path(settings["base_adapter"]).is_dir():
            check_safetensors(Path(settings["base_adapter"]))
        backbone = CausalLMBackbone(model=str(base), dtype=dtype, lora=None, **prompt)
        model = backbone.load_model()
        if settings.get("base_adapter"):
            model = PeftModel.from_pretrained(model, str(settings["base_adapter"])).merge_and_unload()
        model = PeftModel.from_pretrained(model, str(path))
    tokenizer = CausalLMBackbone(model=str(path), lora=None).load_tokenizer()
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer, backbone
