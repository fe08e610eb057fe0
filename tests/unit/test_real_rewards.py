"""The real-model rewards load tiny random-init checkpoints by path and score videos correctly.

Each reward runs its real loading code (``from_pretrained``, state-dict files, the MPS
pickle) on a tiny model of the real architecture built by ``tests/kit/tiny_reward_models``.
Expected values are recomputed independently with plain transformers/torch calls where
the reward's arithmetic is simple enough to restate (aesthetic head, CLIPScore).
"""

from __future__ import annotations

import math

import pytest
import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.real import AestheticReward, CLIPScoreReward, MPSReward, VideoScoreReward
from prompt_a_video.rewards.real._frames import uniform_indices
from prompt_a_video.rewards.real.aesthetic import AestheticHead
from prompt_a_video.rewards.real.checkpoint import load_state_dict
from prompt_a_video.rewards.real.mps import OVERALL_CONDITION
from prompt_a_video.rewards.real.videoscore import DIMENSIONS, QUERY_TEMPLATE
from prompt_a_video.video import Video
from tests.kit import tiny_reward_models as kit

PROMPTS = ["a dog running on the beach", "a red car driving through a city at night"]
CPU = dict(device="cpu", dtype="float32")


def _video(seed: int, frames: int = 10, size: tuple[int, int] = (16, 16)) -> Video:
    g = torch.Generator().manual_seed(seed)
    return Video(torch.randint(0, 256, (frames, *size, 3), generator=g, dtype=torch.uint8), fps=8.0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: thread start-up costs more than the maths, and the cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def videos() -> list[Video]:
    return [_video(0, frames=20), _video(1, frames=5, size=(24, 20))]


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    return kit.save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def tiny_videoscore_dir(tmp_path_factory):
    corpus = [QUERY_TEMPLATE, *PROMPTS]
    return kit.save_tiny_videoscore(tmp_path_factory.mktemp("tiny-videoscore"), corpus)


@pytest.fixture(scope="module")
def tiny_mps_files(tmp_path_factory, tiny_clip_dir):
    return kit.save_tiny_mps(tiny_clip_dir, tmp_path_factory.mktemp("tiny-mps"))


# --- YAML selection, laziness ------------------------------------------------------------

@pytest.mark.parametrize("class_path, init_args", [
    ("prompt_a_video.rewards.real.VideoScoreReward", {"version": "v1.1", "model": "/nonexistent/videoscore"}),
    ("prompt_a_video.rewards.real.AestheticReward", {"head": "/nonexistent/head.pth"}),
    ("prompt_a_video.rewards.real.MPSReward", {"checkpoint": "/nonexistent/mps.pth"}),
    ("prompt_a_video.rewards.real.CLIPScoreReward", {"model_name_or_path": "/nonexistent/clip"}),
])
def test_selected_by_class_path_without_loading_weights(class_path, init_args):
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--reward", type=Reward)
    cfg = parser.parse_object({"reward": {"class_path": class_path, "init_args": init_args}})
    reward = parser.instantiate_classes(cfg).reward
    assert type(reward).__name__ == class_path.rsplit(".", 1)[1]
    path = next(v for v in init_args.values() if v.startswith("/nonexistent"))
    assert path in reward.fingerprint  # built although the path does not exist: nothing was read


def test_missing_weights_fail_items_with_the_path_in_the_reason(videos):
    scores = AestheticReward(head="/nonexistent/head.pth", **CPU).score(videos, PROMPTS)
    assert set(scores.failures) == {0, 1}
    assert "AestheticReward.head" in scores.failures[0] and "/nonexistent/head.pth" in scores.failures[0]
    assert torch.isnan(scores["AES"]).all()


def test_a_broken_checkpoint_is_read_once_not_once_per_item(monkeypatch, tmp_path, videos):
    from prompt_a_video.rewards.real import checkpoint

    reads = []
    real_load = checkpoint.load_state_dict
    monkeypatch.setattr(checkpoint, "load_state_dict", lambda *a: reads.append(a) or real_load(*a))
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    reward = AestheticReward(head=str(tmp_path / "broken.pth"), **CPU)
    first, second = reward.score(videos, PROMPTS), reward.score(videos, PROMPTS)
    assert set(first.failures) == set(second.failures) == {0, 1}
    assert len(reads) == 1  # the batch failed, then each item: the first error is re-raised
    assert "AestheticReward.head: cannot read" in first.failures[0]


def test_bad_settings_are_rejected_when_the_config_is_built():
    with pytest.raises(ValueError, match="VideoScoreReward.version"):
        VideoScoreReward(version="v2")
    with pytest.raises(ValueError, match="MPSReward.dtype"):
        MPSReward(checkpoint="x.pth", dtype="float64")
    with pytest.raises(ValueError, match="CLIPScoreReward.num_frames"):
        CLIPScoreReward(num_frames=0)


def test_uniform_indices_keep_short_clips_whole_and_stride_long_ones():
    assert uniform_indices(5, 16) == [0, 1, 2, 3, 4]
    idx = uniform_indices(48, 16)
    assert idx == list(range(0, 48, 3))
    idx = uniform_indices(50, 16)
    assert len(idx) == 16 and idx[0] == 0 and idx == sorted(set(idx)) and idx[-1] < 50


# --- VideoScore ----------------------------------------------------------------------------

def test_videoscore_scores_five_finite_dims_deterministically(tiny_videoscore_dir, videos):
    reward = VideoScoreReward(model=str(tiny_videoscore_dir), batch_size=2, **CPU)
    first = reward.score(videos, PROMPTS)
    assert not first.failures
    assert set(first) == set(DIMENSIONS) == {"VQ", "TC", "DD", "TVA", "FC"}
    for dim in DIMENSIONS:
        assert first[dim].shape == (2,) and torch.isfinite(first[dim]).all()
    again = reward.score(videos, PROMPTS)
    fresh = VideoScoreReward(model=str(tiny_videoscore_dir), batch_size=2, **CPU).score(videos, PROMPTS)
    for dim in DIMENSIONS:
        assert torch.equal(first[dim], again[dim]) and torch.equal(first[dim], fresh[dim])


def test_videoscore_batched_scores_equal_one_by_one(tiny_videoscore_dir, videos):
    """Prompts of different lengths are padded; the head must still read each one's last real token."""
    batched = VideoScoreReward(model=str(tiny_videoscore_dir), batch_size=2, **CPU).score(videos, PROMPTS)
    single = VideoScoreReward(model=str(tiny_videoscore_dir), batch_size=1, **CPU).score(videos, PROMPTS)
    for dim in DIMENSIONS:
        torch.testing.assert_close(batched[dim], single[dim], rtol=1e-4, atol=1e-5)


def test_videoscore_input_is_the_query_with_the_original_prompt_and_one_image_per_frame(tiny_videoscore_dir, videos):
    reward = VideoScoreReward(model=str(tiny_videoscore_dir), **CPU)
    batch = reward.build_inputs(videos[:1], PROMPTS[:1])
    processor, _ = reward._load()
    text = processor.tokenizer.decode(batch["input_ids"][0])
    assert f'the text prompt is "{PROMPTS[0]}"' in text
    assert "please watch the following frames of a given video" in text
    assert batch["pixel_values"].shape[:2] == (1, 16)  # v1: 16 of the 20 frames
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert int((batch["input_ids"] == image_id).sum()) == 16 * processor.image_seq_len


def test_videoscore_v11_takes_its_own_checkpoint_and_frame_count(tiny_videoscore_dir):
    assert VideoScoreReward(version="v1").model == "TIGER-Lab/VideoScore"
    assert VideoScoreReward(version="v1.1").model == "TIGER-Lab/VideoScore-v1.1"
    long_clip = [_video(5, frames=60)]
    v1 = VideoScoreReward(version="v1", model=str(tiny_videoscore_dir), **CPU)
    v11 = VideoScoreReward(version="v1.1", model=str(tiny_videoscore_dir), **CPU)
    assert v1.build_inputs(long_clip, PROMPTS[:1])["pixel_values"].shape[1] == 16
    assert v11.build_inputs(long_clip, PROMPTS[:1])["pixel_values"].shape[1] == 48
    assert v1.fingerprint != v11.fingerprint and "v1.1" in v11.fingerprint
    scores = v11.score(long_clip, PROMPTS[:1])
    assert not scores.failures and all(math.isfinite(v) for v in scores.item(0).values())


def test_videoscore_refuses_a_head_that_is_not_five_wide(tmp_path, tiny_videoscore_dir, videos):
    import shutil

    from transformers import Idefics2Config

    from prompt_a_video.rewards.real.videoscore_model import VideoScoreRegressionModel

    folder = shutil.copytree(tiny_videoscore_dir, tmp_path / "three-outputs")
    config = Idefics2Config.from_pretrained(folder)
    config.id2label = {0: "a", 1: "b", 2: "c"}
    config.label2id = {"a": 0, "b": 1, "c": 2}
    VideoScoreRegressionModel(config).save_pretrained(folder)
    scores = VideoScoreReward(model=str(folder), **CPU).score(videos[:1], PROMPTS[:1])
    assert "VideoScoreReward.model" in scores.failures[0] and "5-output" in scores.failures[0]


# --- Aesthetic -------------------------------------------------------------------------------

def _clip_image_embeds(clip_dir, frames: torch.Tensor) -> torch.Tensor:
    """Independent restatement: CLIP's projected image embedding of uint8 frames [N, H, W, 3]."""
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(clip_dir).eval()
    processor = CLIPProcessor.from_pretrained(clip_dir, backend="pil")  # the rewards' pixel backend
    pixels = processor(images=[Image.fromarray(f.numpy()) for f in frames], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        return model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)


@pytest.mark.parametrize("kind", ["mlp", "relu-mlp"])
def test_aesthetic_is_the_mlp_on_unit_clip_embeddings_averaged_over_frames(kind, tmp_path, tiny_clip_dir, videos):
    head_file = kit.save_aesthetic_head(tmp_path / "head.pth", kind=kind)
    reward = AestheticReward(head=str(head_file), clip_model=str(tiny_clip_dir), num_frames=4, **CPU)
    scores = reward.score(videos, PROMPTS)
    assert not scores.failures and scores["AES"].shape == (2,)

    state = kit.aesthetic_head_state(kind=kind)
    linear_ids = sorted({int(k.split(".")[1]) for k in state})
    expected = []
    for video in videos:
        x = _clip_image_embeds(tiny_clip_dir, video.frames[uniform_indices(video.num_frames, 4)])
        x = x / x.norm(dim=-1, keepdim=True)
        for n, i in enumerate(linear_ids):  # linearMSE: no activations; reluMSE: ReLU after the first four
            x = x @ state[f"layers.{i}.weight"].T + state[f"layers.{i}.bias"]
            if kind == "relu-mlp" and n < 4:
                x = x.relu()
        expected.append(x.mean())
    torch.testing.assert_close(scores["AES"], torch.stack(expected), rtol=1e-4, atol=1e-5)


def test_aesthetic_head_ignores_embedding_scale():
    head = AestheticHead.from_state_dict(kit.aesthetic_head_state(), "test")
    e = torch.randn(3, kit.PROJECTION_DIM, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(head(e), head(7.5 * e))
        assert not torch.allclose(head(e[:1]), head(e[1:2]))


def test_aesthetic_v1_linear_head_from_safetensors(tmp_path, tiny_clip_dir, videos):
    head_file = kit.save_aesthetic_head(tmp_path / "head.safetensors", kind="linear", seed=3)
    reward = AestheticReward(head=str(head_file), clip_model=str(tiny_clip_dir), num_frames=2, **CPU)
    scores = reward.score(videos[:1], PROMPTS[:1])
    state = kit.aesthetic_head_state(kind="linear", seed=3)
    x = _clip_image_embeds(tiny_clip_dir, videos[0].frames[uniform_indices(videos[0].num_frames, 2)])
    expected = ((x / x.norm(dim=-1, keepdim=True)) @ state["weight"].T + state["bias"]).mean()
    torch.testing.assert_close(scores["AES"][0], expected, rtol=1e-4, atol=1e-5)


def test_aesthetic_head_of_the_wrong_width_is_reported(tmp_path, tiny_clip_dir, videos):
    head_file = kit.save_aesthetic_head(tmp_path / "head8.pth", input_dim=8)
    scores = AestheticReward(head=str(head_file), clip_model=str(tiny_clip_dir), **CPU).score(videos[:1], PROMPTS[:1])
    assert "takes 8-d embeddings" in scores.failures[0]


# --- CLIPScore ---------------------------------------------------------------------------------

def test_clip_score_is_clipped_mean_cosine_times_100_over_frames(tiny_clip_dir, videos):
    from transformers import CLIPModel, CLIPProcessor

    scores = CLIPScoreReward(model_name_or_path=str(tiny_clip_dir), num_frames=4, device="cpu").score(videos, PROMPTS)
    assert not scores.failures and scores["CLIP"].shape == (2,)
    assert ((scores["CLIP"] >= 0) & (scores["CLIP"] <= 100)).all()

    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    processor = CLIPProcessor.from_pretrained(tiny_clip_dir, backend="pil")
    for video, prompt, got in zip(videos, PROMPTS, scores["CLIP"]):
        image = _clip_image_embeds(tiny_clip_dir, video.frames[uniform_indices(video.num_frames, 4)])
        with torch.no_grad():
            ids = processor(text=[prompt], return_tensors="pt", padding=True)
            text = model.text_projection(model.text_model(**ids).pooler_output)
        cos = torch.nn.functional.cosine_similarity(image, text)
        torch.testing.assert_close(got, (100 * cos).mean().clamp_min(0), rtol=1e-4, atol=1e-4)


# --- MPS ------------------------------------------------------------------------------------------

def test_mps_reads_the_authors_pickled_module_without_their_code(tiny_clip_dir, tiny_mps_files, videos):
    with pytest.raises(ModuleNotFoundError, match="trainer"):  # what plain torch.load does with it
        torch.load(tiny_mps_files["authors"], weights_only=False)
    state = load_state_dict(tiny_mps_files["authors"], "test")
    authors_keys = ("model.logit_scale", "model.text_model.embeddings.position_ids",
                    "cross_model.layers.0.0.fn.to_q.weight", "cross_model.layers.1.0.fn.norm.bias",
                    "cross_model.layers.1.1.fn.rotary_emb.inv_freq", "cross_model.layers.0.1.fn.ff_out.1.weight")
    for key in authors_keys:  # the authors' layout, extra buffers included
        assert key in state
    assert "cross_model.layers.0.1.fn.pos_emb" not in state  # non-persistent buffers are not weights

    authors = MPSReward(checkpoint=str(tiny_mps_files["authors"]), clip_model=str(tiny_clip_dir), num_frames=4, **CPU)
    ours = MPSReward(checkpoint=str(tiny_mps_files["ours"]), clip_model=str(tiny_clip_dir), num_frames=4, **CPU)
    a, b = authors.score(videos, PROMPTS), ours.score(videos, PROMPTS)
    assert not a.failures and a["MPS"].shape == (2,) and torch.isfinite(a["MPS"]).all()
    torch.testing.assert_close(a["MPS"], b["MPS"])


def test_mps_scores_do_not_depend_on_batch_composition(tiny_clip_dir, tiny_mps_files):
    vids = [_video(10), _video(11, frames=3), _video(12, frames=7)]
    prompts = [PROMPTS[0], PROMPTS[1], "a cat"]
    reward = MPSReward(checkpoint=str(tiny_mps_files["ours"]), clip_model=str(tiny_clip_dir), num_frames=4,
                       batch_size=3, **CPU)
    together = reward.score(vids, prompts)["MPS"]  # chunks of 3 frames straddle videos
    alone = torch.cat([reward.score([v], [p])["MPS"] for v, p in zip(vids, prompts)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-4)


def test_mps_video_score_is_the_mean_over_frames(tiny_clip_dir, tiny_mps_files):
    reward = MPSReward(checkpoint=str(tiny_mps_files["ours"]), clip_model=str(tiny_clip_dir), num_frames=4, **CPU)
    still = _video(20, frames=1)
    repeated = Video(still.frames.repeat(6, 1, 1, 1), fps=8.0)
    a, b = reward.score([still, repeated], PROMPTS[:1] * 2)["MPS"]
    torch.testing.assert_close(a, b)


def test_mps_condition_mask_hides_prompt_tokens_unrelated_to_the_condition():
    from prompt_a_video.rewards.real.mps_model import MPSModel

    condition = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tokens = torch.tensor([[[2.0, 0.0], [0.0, 0.5], [-1.0, 0.1], [1.0, 1.0]]])  # relevance 2, .5, .1, 1 -> /2
    mask = MPSModel.condition_mask(tokens, condition, threshold=0.3)
    assert mask[0].tolist() == [0.0, float("-inf"), float("-inf"), 0.0]


def test_mps_rejects_a_checkpoint_that_is_not_mps(tmp_path, tiny_clip_dir, videos):
    not_mps = kit.save_aesthetic_head(tmp_path / "head.pth")
    scores = MPSReward(checkpoint=str(not_mps), clip_model=str(tiny_clip_dir), **CPU).score(videos[:1], PROMPTS[:1])
    assert "not an MPS checkpoint" in scores.failures[0]


def test_mps_default_condition_is_the_overall_one():
    assert MPSReward(checkpoint="x.pth").condition == OVERALL_CONDITION
    assert OVERALL_CONDITION.startswith("light, color, clarity") and OVERALL_CONDITION.endswith("word, things.")


# --- checkpoint files -----------------------------------------------------------------------------

def test_state_dict_files_lightning_wrapping_and_clear_errors(tmp_path):
    state = kit.aesthetic_head_state(kind="linear")
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "head.ckpt")
    loaded = load_state_dict(tmp_path / "head.ckpt", "X.head")
    assert set(loaded) == {"weight", "bias"} and torch.equal(loaded["weight"], state["weight"])
    with pytest.raises(FileNotFoundError, match="X.head"):
        load_state_dict(tmp_path / "missing.pth", "X.head")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not a state dict"):
        load_state_dict(tmp_path / "list.pth", "X.head")
