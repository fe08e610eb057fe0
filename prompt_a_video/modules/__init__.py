"""LightningModules of the refiner: SFT and DPO, and the pieces they share.

``from prompt_a_video.modules import dpo_loss`` gives the loss function. It is imported
here eagerly on purpose: a lazy lookup would lose to the submodule of the same name
(importing ``prompt_a_video.modules.dpo_loss`` binds the *module* to this package's
``dpo_loss`` attribute), and ``dpo_loss.py`` imports torch only when the loss runs, so
this stays cheap. The LightningModules (lightning, transformers) load on first access.
"""

from prompt_a_video.modules.dpo_loss import dpo_loss

_LAZY = {
    "DPORefiner": "prompt_a_video.modules.dpo",
    "SFTRefiner": "prompt_a_video.modules.sft",
    "sequence_logps": "prompt_a_video.modules.logprobs",
}

__all__ = ["dpo_loss", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
