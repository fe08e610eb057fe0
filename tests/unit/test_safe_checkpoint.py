"""Checkpoints are read without running code: `pav export` and `pav fit --ckpt_path` load
them with ``torch.load(weights_only=True)`` and allow only what Lightning stores in ours;
a file that is not a checkpoint, or would run code, is one line naming it (exit 2)."""

import os
import shlex

import lightning.pytorch  # noqa: F401  (imported now: its log handler must not keep a test's captured stderr)
import pytest
import torch

from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
from prompt_a_video.modules.sft import SFTRefiner
from prompt_a_video.modules.optim import WarmupLinear
from prompt_a_video.refiner.export import checkpoint_globals, load_module_from_checkpoint, read_checkpoint
from tests.unit.test_user_errors import SFT, assert_one_line, files, pav  # noqa: F401  (files: a fixture)

ROOT_DATA = SFT.parents[1] / "data" / "seed_sft_pairs.json"


@pytest.fixture(scope="module")
def trainer_checkpoint(tiny_llama_dir, tmp_path_factory, one_torch_thread):
    """A checkpoint of the tiny SFT refiner written by a plain Lightning ``Trainer`` (one
    step): its ``hyper_parameters`` hold the backbone dataclasses themselves (a `pav fit`
    checkpoint holds plain config values), so it needs everything the allow-list has."""
    from lightning.pytorch import Trainer

    from prompt_a_video.datamodules.sft import SFTDataModule

    folder = tmp_path_factory.mktemp("trainer-fit")
    module = SFTRefiner(backbone=CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=4)), max_length=320,
                        schedule=WarmupLinear(warmup_ratio=0.1))
    trainer = Trainer(max_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0, default_root_dir=folder, accelerator="cpu", devices=1)
    trainer.fit(module, SFTDataModule(pools=[str(ROOT_DATA)], batch_size=2))
    (checkpoint,) = folder.rglob("*.ckpt")
    return checkpoint, module


def test_what_lightning_stores_in_our_checkpoints_is_allowed_and_nothing_else(trainer_checkpoint):
    checkpoint, module = trainer_checkpoint
    allowed = {f"{cls.__module__}.{cls.__qualname__}" for cls in checkpoint_globals()}
    # the globals beyond torch's defaults this checkpoint needs: our config dataclasses, all allowed
    needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(checkpoint)))
    assert needed <= allowed
    assert needed == {f"{cls.__module__}.{cls.__qualname__}" for cls in (CausalLMBackbone, LoraSpec, WarmupLinear)}
    with pytest.raises(Exception, match="Weights only load failed"):  # torch alone refuses it
        torch.load(checkpoint, map_location="cpu", weights_only=True)
    saved = read_checkpoint(checkpoint)
    backbone = saved["hyper_parameters"]["backbone"]
    assert isinstance(backbone, CausalLMBackbone) and backbone.lora == LoraSpec(r=4)
    assert saved["global_step"] == 1 and set(saved["state_dict"]) == set(module.state_dict())
    # and it loads back into a module with its weights
    loaded = load_module_from_checkpoint(checkpoint, module_class=SFTRefiner)
    for name, value in module.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)


class Payload:
    """What an attacker pickles: unpickling calls ``call(argument)``."""

    def __init__(self, call, argument):
        self.call, self.argument = call, argument

    def __reduce__(self):
        return self.call, (self.argument,)


def _payloads(marker):
    return {
        "exec": Payload(exec, f"open({str(marker)!r}, 'w').close()"),
        "posix.system": Payload(os.system, f"touch {shlex.quote(str(marker))}"),
    }


@pytest.mark.parametrize("called", ["exec", "posix.system"])
def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(files, capsys, called):
    marker = files / "pwned"
    evil = files / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": {"backbone": _payloads(marker)[called]},
                "global_step": 2}, evil)
    expected = f"{evil}: not a Lightning checkpoint (loading it would call {called}, "

    status, err = pav(capsys, "export", "--ckpt_path", evil, "--out", files / "out")
    line = assert_one_line(status, err, "export", expected, "could run code")
    assert status == 2 and err.strip().splitlines() == [line]
    assert not marker.exists() and not (files / "out").exists()
    status, err = pav(capsys, "fit", "-c", SFT, "--ckpt_path", evil)
    assert_one_line(status, err, "fit", expected)
    assert status == 2 and not marker.exists()

    # the payload is live: a full unpickle, what `pav export` did before, runs it
    torch.load(evil, map_location="cpu", weights_only=False)
    assert marker.exists()


def test_a_file_that_is_not_a_checkpoint_is_named_in_one_line(files, capsys, trainer_checkpoint):
    garbage = files / "garbage.ckpt"
    garbage.write_bytes(bytes(range(256)) * 8)
    cut = files / "cut.ckpt"
    whole = trainer_checkpoint[0].read_bytes()
    cut.write_bytes(whole[:len(whole) // 2])
    no_state = files / "weights.pt"
    torch.save({"w": torch.zeros(2)}, no_state)
    expected = {
        garbage: f"{garbage}: not a Lightning checkpoint (not the zip archive that torch.save writes)",
        cut: f"{cut}: not a Lightning checkpoint (a damaged or truncated torch.save file: PytorchStreamReader",
        no_state: f"{no_state}: not a Lightning checkpoint (no 'state_dict')",
    }
    for path, text in expected.items():
        status, err = pav(capsys, "export", "--ckpt_path", path, "--out", files / "out")
        line = assert_one_line(status, err, "export", text)
        assert status == 2 and err.strip().splitlines() == [line]
    # `pav fit` reads it before it builds anything, with or without MLflow
    for without_mlflow in ([], ["--trainer.logger", "false"]):
        status, err = pav(capsys, "fit", "-c", SFT, "--ckpt_path", garbage, *without_mlflow)
        assert_one_line(status, err, "fit", expected[garbage])
        assert status == 2
