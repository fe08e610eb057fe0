"""Read the weights of a reward checkpoint file as a flat state dict, without its code.

Reward heads are published in three shapes:

- ``.safetensors``: a state dict (read with ``safetensors``).
- ``.pth``/``.pt``/``.bin``/``.ckpt`` holding a state dict (the LAION aesthetic heads), or a
  Lightning checkpoint with one under ``"state_dict"``: read with ``torch.load(weights_only=True)``.
- a pickled *whole model* (MPS's ``MPS_overall_checkpoint.pth`` is ``torch.save(model)`` of a
  class from the authors' training repo). Unpickling it normally needs that repo importable
  and runs arbitrary code. :func:`load_state_dict` instead unpickles it with every class
  replaced by an inert stand-in (only torch's tensor-rebuild functions and a few builtins
  are real), then walks the ``nn.Module`` tree (``_parameters``, persistent ``_buffers``,
  ``_modules``) exactly as ``Module.state_dict()`` would, giving the same keys.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def load_state_dict(path: str | Path, owner: str) -> dict[str, torch.Tensor]:
    """The tensors of the checkpoint at ``path`` as ``{key: tensor}`` on CPU.

    ``owner`` (e.g. ``"MPSReward.checkpoint"``) names the setting in error messages.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{owner}: checkpoint file not found: {p} (expected one of {STATE_DICT_SUFFIXES})")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p), device="cpu")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as refused:
        # Not a plain state dict: maybe a pickled model. Read its tensors without its classes.
        try:
            obj = _load_pickled_module(p)
        except Exception as err:
            raise ValueError(f"{owner}: cannot read {p} as a state dict ({refused}) "
                             f"nor as a pickled module ({type(err).__name__}: {err})") from err
        state = _module_state(obj)
        if not state:
            raise ValueError(f"{owner}: {p} holds a pickled {type(obj).__name__} with no nn.Module weights") from None
        return state
    state = _as_state_dict(obj)
    if state is None:
        raise ValueError(f"{owner}: {p} is not a state dict (got {type(obj).__name__}); "
                         "expected {name: tensor}, a Lightning checkpoint, or a pickled nn.Module")
    return state


def _as_state_dict(obj) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return {str(k): v for k, v in obj.items()}
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):  # Lightning checkpoint
        return _as_state_dict(obj["state_dict"])
    return None


# --- pickled modules -------------------------------------------------------------------

class _Inert:
    """Stand-in for a class named in a pickle: accepts any construction and keeps the state."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)

    # Dict and list subclasses are restored with SETITEMS / APPENDS.
    def __setitem__(self, key, value) -> None:
        self.__dict__.setdefault("_items", {})[key] = value

    def append(self, value) -> None:
        self.__dict__.setdefault("_list", []).append(value)

    def extend(self, values) -> None:
        self.__dict__.setdefault("_list", []).extend(values)


_REAL_GLOBALS = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "object"),
    ("copyreg", "_reconstructor"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch.nn.parameter", "Parameter"),
}


_PY2_NAMES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _InertUnpickler(pickle.Unpickler):
    _stand_ins: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str):
        module = _PY2_NAMES.get(module, module)  # protocol-2 pickles name builtins the Python 2 way
        is_dtype = module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)
        if (module, name) in _REAL_GLOBALS or is_dtype:
            return super().find_class(module, name)
        key = (module, name)
        if key not in self._stand_ins:
            self._stand_ins[key] = type(name, (_Inert,), {"__module__": f"inert:{module}"})
        return self._stand_ins[key]


class _InertPickleModule:
    """What ``torch.load(pickle_module=...)`` needs: an ``Unpickler`` (and ``load``)."""

    Unpickler = _InertUnpickler
    __name__ = "inert_pickle"

    @staticmethod
    def load(file, **kwargs):
        return _InertUnpickler(file, **kwargs).load()


def _load_pickled_module(path: Path):
    # weights_only=False is required to run our own unpickler; it is safe here because
    # every class but torch's tensor rebuilders is replaced by an inert stand-in.
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_InertPickleModule)


def _module_state(obj, prefix: str = "", out: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """``Module.state_dict()`` of an unpickled module tree (real modules or stand-ins)."""
    out = {} if out is None else out
    attrs = getattr(obj, "__dict__", {})
    for name, p in (attrs.get("_parameters") or {}).items():
        if isinstance(p, torch.Tensor):
            out[prefix + name] = p.detach()
    skip = attrs.get("_non_persistent_buffers_set") or set()
    for name, b in (attrs.get("_buffers") or {}).items():
        if isinstance(b, torch.Tensor) and name not in skip:
            out[prefix + name] = b.detach()
    for name, child in (attrs.get("_modules") or {}).items():
        if child is not None:
            _module_state(child, f"{prefix}{name}.", out)
    return out
