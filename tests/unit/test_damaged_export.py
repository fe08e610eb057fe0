"""An export folder with a weights file cut short (an interrupted copy) is one line that
names the file and says how to get a good one, before any model loads; exit 2."""

import shutil

import lightning.pytorch  # noqa: F401  (imported now: its log handler must not keep a test's captured stderr)
import pytest

from prompt_a_video.refiner.export import check_safetensors
from tests.unit.test_user_errors import assert_one_line, files, pav  # noqa: F401  (files: a fixture)


@pytest.fixture(scope="module")
def adapter_export(tiny_llama_dir, tmp_path_factory, one_torch_thread):
    """`pav export`'s adapter/ of a LoRA refiner on the tiny llama (no merged/)."""
    from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
    from prompt_a_video.modules.sft import SFTRefiner
    from prompt_a_video.refiner.export import export_refiner

    module = SFTRefiner(backbone=CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=4)))
    module.configure_model()
    return export_refiner(module, tmp_path_factory.mktemp("adapter-export") / "export", merged=False)


def cut_in_half(file):
    data = file.read_bytes()
    file.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("part, weights", [("adapter", "adapter_model.safetensors"), ("merged", "model.safetensors")])
def test_a_truncated_weights_file_of_an_export_is_named(files, capsys, request, part, weights):
    source = request.getfixturevalue("adapter_export" if part == "adapter" else "tiny_refiner_export_dir")
    export = files / "export"
    shutil.copytree(source, export)  # the session's export is shared: damage a copy
    check_safetensors(export / part)  # whole: it passes
    cut_in_half(export / part / weights)
    capsys.readouterr()  # what building the export printed
    status, err = pav(capsys, "refine", "--model", export, "a dog")
    line = assert_one_line(status, err, "refine", f"{export / part / weights}: not a valid safetensors file (",
                           "export the refiner again with `pav export`")
    assert status == 2 and err.strip().splitlines() == [line]
