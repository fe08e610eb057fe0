"""`pav export`: turn a training checkpoint into Hugging Face folders (see
:mod:`prompt_a_video.refiner.export` for the layout)."""

from __future__ import annotations


def export(ckpt_path: str, out: str, merged: bool = True, adapter: bool = True, overwrite: bool = False) -> None:
    """Export a refiner checkpoint: LoRA adapter (PEFT) and merged model (HF, vLLM-ready).

    Writes OUT/adapter/ (adapter_config.json, adapter_model.safetensors), OUT/merged/
    (safetensors, config.json, generation_config.json), each with the tokenizer and its
    chat template, and OUT/refiner.json (system prompt, user template, base model, what
    was trained) so the refiner is prompted exactly as in training. After full
    fine-tuning (no LoRA) only merged/ is written. OUT/merged/ can be the
    backbone.model of the next training round (iterated DPO).

    Example: pav export --ckpt_path runs/<exp>/<run>/checkpoints/last.ckpt --out refiners/sft

    Args:
        ckpt_path: a Lightning checkpoint of `pav fit` (SFT or DPO refiner).
        out: the export folder (must be empty or absent unless overwrite).
        merged: write merged/ (the adapter merged into the base model).
        adapter: write adapter/ (the LoRA adapter alone, PEFT format).
        overwrite: replace an existing non-empty export folder.
    """
    from prompt_a_video.output_lock import output_lock
    from prompt_a_video.refiner.export import export_refiner

    with output_lock(out, "--out"):  # two exports into one folder would mix their files
        folder = export_refiner(ckpt_path, out, merged=merged, adapter=adapter, overwrite=overwrite)
    for part in ("adapter", "merged"):
        if (folder / part).is_dir():
            print(f"{part}: {folder / part}", flush=True)
    print(f"settings: {folder / 'refiner.json'}", flush=True)
