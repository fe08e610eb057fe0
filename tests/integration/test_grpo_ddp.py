"""GRPO over two DDP processes on CPU (gloo, ``ddp_fork``): each rank rolls out its own
share of the prompts, the gradients are averaged, so the LoRA weights stay one model, and
the rollout table is written once (rank 0), not once a rank."""

from __future__ import annotations

import json

import pytest
import torch
from lightning.pytorch import Callback, Trainer

pytestmark = pytest.mark.integration

PROMPTS = ["a dog running on the beach", "a red car in the city", "a cat sleeping on a sofa",
           "a boat on a lake at dawn", "a horse in a field", "two birds on a wire"]


class RecordRanks(Callback):
    """Writes, per rank, the prompts it trained on and a digest of its LoRA weights."""

    def __init__(self, out: str) -> None:
        self.out, self.prompts = out, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.prompts.extend(batch["prompt"])

    def on_train_end(self, trainer, module):
        lora = {n: p.detach().double().sum().item() for n, p in module.model.named_parameters() if p.requires_grad}
        with open(f"{self.out}/rank{trainer.global_rank}.json", "w") as f:
            json.dump({"prompts": self.prompts, "lora": lora}, f)


def test_two_ranks_roll_out_their_own_prompts_and_train_one_adapter(tiny_llama_dir, tmp_path):
    from prompt_a_video.datamodules.prompts import PromptSetDataModule
    from prompt_a_video.generators.synthetic import SyntheticGenerator
    from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
    from prompt_a_video.modules.grpo import GRPORefiner
    from prompt_a_video.rewards.composite import CompositeReward
    from prompt_a_video.rewards.offline import SceneAlignmentReward, VisualQualityReward

    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    reward = CompositeReward([VisualQualityReward(), SceneAlignmentReward()], weights={"VQ": 1.0, "TVA": 1.3})
    module = GRPORefiner(CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=4)),
                         SyntheticGenerator(preset="long-cinematic", num_frames=4, height=24, width=24), reward,
                         group_size=2, max_new_tokens=8, use_cache=False, lr=5e-2, max_length=256,
                         table_every_n_steps=1)
    module.configure_model()
    start = {n: p.detach().double().sum().item() for n, p in module.model.named_parameters() if p.requires_grad}
    trainer = Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", max_steps=2, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      log_every_n_steps=1, default_root_dir=str(tmp_path / "fit"),
                      callbacks=[RecordRanks(str(tmp_path))])
    torch.manual_seed(0)
    trainer.fit(module, PromptSetDataModule(str(tmp_path / "prompts.txt"), batch_size=1))

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [len(r["prompts"]) for r in ranks] == [2, 2]
    assert not set(ranks[0]["prompts"]) & set(ranks[1]["prompts"])  # a prompt is one rank's
    assert ranks[0]["lora"] == pytest.approx(ranks[1]["lora"], rel=1e-6, abs=1e-9)  # one adapter
    assert any(abs(v - start[n]) > 1e-6 for n, v in ranks[0]["lora"].items()), "the LoRA weights should move"
    rows = [json.loads(line) for line in (tmp_path / "fit" / "rollouts.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 0, 1, 1]  # rank 0's group of 2, each step, once
    assert {r["original"] for r in rows} <= set(ranks[0]["prompts"])
