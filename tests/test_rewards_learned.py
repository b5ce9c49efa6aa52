"""Learned-reward adapters (clip, pickscore, hpsv3, edit_judge) on tiny random models of the real architectures,
saved to a folder and loaded through the adapter as a user's download would be. Random weights cannot rank, so
the tests check the formulas against a manual transformers computation, determinism, batching and the errors."""

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from dreamlite.evals.judges import JudgeError
from dreamlite.rewards import REWARDS, build_reward
from dreamlite.rewards.edit_judge import EditJudgeReward, parse_edit_answer
from dreamlite.rewards.hpsv3 import REWARD_TOKEN, reward_head
from dreamlite.rewards.hpsv3_prompt import INSTRUCTION, RATING

from .evals_tiny import save_tiny_clip, save_tiny_qwen25vl

PROMPTS = ["a red circle", "two blue squares left of a green triangle", "x", "a yellow star"]


def images(n, seed=0, size=(40, 48)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


# ---- clip / pickscore ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "model")


def manual_clip_logits(folder, imgs, prompts):
    """logits_per_image's diagonal and logit_scale.exp() from CLIPModel.forward, processed by hand."""
    from transformers import AutoTokenizer, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    model = CLIPModel.from_pretrained(folder).eval()
    pixels = CLIPImageProcessorPil.from_pretrained(folder)(images=[Image.fromarray(i) for i in imgs],
                                                           return_tensors="pt")["pixel_values"]
    tokens = AutoTokenizer.from_pretrained(folder)(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**tokens, pixel_values=pixels)
    return out.logits_per_image.diagonal(), model.logit_scale.exp().item()


def test_clip_and_pickscore_match_clipmodel_forward(clip_dir):
    from dreamlite.rewards.clip import ClipScoreReward, PickScoreReward

    imgs = images(4)
    logits, scale = manual_clip_logits(clip_dir, imgs, PROMPTS)
    pick = PickScoreReward(path=str(clip_dir), batch_size=3)(imgs, PROMPTS)
    clip = ClipScoreReward(path=str(clip_dir), batch_size=3)(imgs, PROMPTS)
    assert pick.shape == clip.shape == (4,)
    torch.testing.assert_close(pick, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(clip, (logits / scale).clamp(min=0), atol=1e-6, rtol=1e-5)
    assert ((clip >= 0) & (clip <= 1)).all()


def test_clip_is_deterministic_batch_independent_and_pairs_images_with_their_prompts(clip_dir):
    from dreamlite.rewards.clip import PickScoreReward

    reward = PickScoreReward(path=str(clip_dir), batch_size=2)
    imgs = images(4, seed=1)
    first = reward(imgs, PROMPTS)
    assert torch.isfinite(first).all()
    assert torch.equal(first, reward(imgs, PROMPTS))
    same = reward([imgs[0]] * 3, [PROMPTS[0]] * 3)
    torch.testing.assert_close(same, same[:1].expand(3), atol=1e-6, rtol=1e-6)  # batch rounding only
    torch.testing.assert_close(PickScoreReward(path=str(clip_dir), batch_size=4)(imgs, PROMPTS), first)
    # a permutation of (image, prompt) pairs permutes the scores; shuffled prompts give other scores
    perm = [2, 0, 3, 1]
    torch.testing.assert_close(reward([imgs[i] for i in perm], [PROMPTS[i] for i in perm]), first[perm])
    mismatched = reward(imgs, [PROMPTS[i] for i in perm])
    assert mismatched.shape == (4,) and not torch.allclose(mismatched, first)
    # a (N, 3, H, W) tensor in [-1, 1], as the trainer holds samples, scores like the uint8 arrays
    tensor = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(reward(tensor, PROMPTS), first)


def test_text_image_rewards_skip_edit_samples_unless_asked(clip_dir):
    from dreamlite.rewards.clip import ClipScoreReward

    imgs = images(3, seed=4)
    alone = ClipScoreReward(path=str(clip_dir))(imgs, PROMPTS[:3])
    mixed = ClipScoreReward(path=str(clip_dir))(imgs, PROMPTS[:3], [None, imgs[0], None])
    torch.testing.assert_close(mixed, torch.stack([alone[0], torch.tensor(0.0), alone[2]]))
    by_task = ClipScoreReward(path=str(clip_dir))(imgs, PROMPTS[:3], tasks=["edit", "t2i", "t2i"])
    torch.testing.assert_close(by_task, torch.stack([torch.tensor(0.0), alone[1], alone[2]]))
    every = ClipScoreReward(path=str(clip_dir), edits=True)(imgs, PROMPTS[:3], [None, imgs[0], None])
    torch.testing.assert_close(every, alone)
    assert ClipScoreReward(path=str(clip_dir))(imgs[:1], PROMPTS[:1], [imgs[1]]).tolist() == [0.0]


def test_registry_builds_clip_and_pickscore_from_a_path(clip_dir):
    assert {"clip", "pickscore", "hpsv3", "edit_judge"} <= set(REWARDS)
    combined = build_reward([{"name": "clip", "args": {"path": str(clip_dir)}},
                             {"name": "pickscore", "weight": 0.5, "args": {"path": str(clip_dir)}}])
    value = combined(images(2), PROMPTS[:2])
    assert value.shape == (2,)
    torch.testing.assert_close(value, combined.components["clip"] + 0.5 * combined.components["pickscore"])


def test_clip_missing_or_pickled_folder_is_one_line_value_error(tmp_path, clip_dir):
    for name in ("clip", "pickscore"):
        with pytest.raises(ValueError, match="no such folder") as err:
            build_reward([{"name": name, "args": {"path": str(tmp_path / "nowhere")}}])
        assert "\n" not in str(err.value) and "nowhere" in str(err.value)
    with pytest.raises(ValueError, match="needs `path`"):
        build_reward([{"name": "clip"}])
    with pytest.raises(ValueError, match="no such folder"):
        build_reward([{"name": "pickscore", "args": {"path": str(clip_dir), "processor": str(tmp_path / "p")}}])
    # PickScore_v1's layout: the model folder without tokenizer or processor, those in another folder
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).symlink_to(clip_dir / name)
    with pytest.raises(ValueError, match="no preprocessor_config.json"):
        build_reward([{"name": "pickscore", "args": {"path": str(bare)}}])
    split = build_reward([{"name": "pickscore", "args": {"path": str(bare), "processor": str(clip_dir)}}])
    whole = build_reward([{"name": "pickscore", "args": {"path": str(clip_dir)}}])
    assert torch.equal(split(images(2), PROMPTS[:2]), whole(images(2), PROMPTS[:2]))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((clip_dir / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ValueError, match="only pickled weights"):
        build_reward([{"name": "clip", "args": {"path": str(pickled)}}])


# ---- edit_judge ------------------------------------------------------------------------------------------------

class CannedJudge:
    """Answers in order; an Exception is raised instead of answered. Records what it was shown."""

    def __init__(self, answers):
        self.answers, self.seen = list(answers), []

    def ask(self, parts):
        self.seen.append(parts)
        reply = self.answers.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def test_edit_answer_parser():
    assert parse_edit_answer("Instruction following: 4\nPreservation: 2") == (4, 2)
    assert parse_edit_answer("**Instruction Following**: 5/5\n**Preservation:** 3 / 5\n") == (5, 3)
    assert parse_edit_answer("instruction-following = 1. preservation 5") == (1, 5)
    from dreamlite.evals.judges import MalformedAnswer

    for bad in ("Instruction following: 4", "Preservation: 3", "Instruction following: 6\nPreservation: 2",
                "Instruction following: 0\nPreservation: 2", "I cannot judge this.",
                "Instruction following: 2\nPreservation: 3\nInstruction following: 5"):
        with pytest.raises(MalformedAnswer):
            parse_edit_answer(bad)


def test_edit_judge_rewards_from_canned_answers():
    judge = CannedJudge([
        "Instruction following: 5\nPreservation: 1",                      # 0.5 * 1 + 0.5 * 0 = 0.5
        "Instruction following: 4/5\nPreservation: 4/5",                  # 0.75
        "Instruction following: seven", JudgeError("HTTP 503"), "Instruction following: 1\nPreservation: 3",
        "no", "no", "no",                                                 # never readable: on_failure
        "Instruction following: 3",                                       # generation: (3 - 1) / 4 = 0.5
    ])
    reward = EditJudgeReward(judge=judge, attempts=3)
    outs, srcs = images(5, seed=2), images(5, seed=3)
    value = reward(outs, ["make it red", "add a star", "remove the square", "move it left", "a red circle"],
                   srcs[:4] + [None])
    torch.testing.assert_close(value, torch.tensor([0.5, 0.75, 0.25, 0.0, 0.5]))
    assert reward.components["failed"].tolist() == [0, 0, 0, 1, 0]
    torch.testing.assert_close(reward.components["following"][:3], torch.tensor([1.0, 0.75, 0.0]))
    assert torch.isnan(reward.components["preservation"][3:]).all()
    assert reward.errors[2][1].startswith("judge: JudgeError") and len(reward.errors[3]) == 3
    assert not judge.answers  # the third item was asked three times, the fourth three times
    edit, generation = judge.seen[0], judge.seen[-1]
    assert "make it red" in edit[0] and np.array_equal(np.asarray(edit[1]), srcs[0])
    assert np.array_equal(np.asarray(edit[2]), outs[0])
    assert "a red circle" in generation[0] and len(generation) == 2


def test_edit_judge_weight_failure_value_and_arguments():
    reward = EditJudgeReward(judge=CannedJudge(["Instruction following: 5\nPreservation: 1", "?"]),
                             follow_weight=0.8, attempts=1, on_failure=0.5)
    assert reward(images(2), ["a", "b"], images(2, seed=1)).tolist() == pytest.approx([0.8, 0.5])
    with pytest.raises(ValueError, match="exactly one of"):
        EditJudgeReward()
    with pytest.raises(ValueError, match="follow_weight"):
        EditJudgeReward(judge=CannedJudge([]), follow_weight=2)
    with pytest.raises(ValueError, match="needs `model`"):
        EditJudgeReward(url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="no config.json") as err:
        build_reward([{"name": "edit_judge", "args": {"path": "/nonexistent/judge"}}])
    assert "\n" not in str(err.value)


def test_edit_judge_runs_a_tiny_local_qwen25vl(tmp_path):
    folder = save_tiny_qwen25vl(tmp_path / "judge")
    reward = build_reward([{"name": "edit_judge", "args": {"path": str(folder), "max_new_tokens": 8,
                                                           "attempts": 1}}])
    value = reward(images(2, size=(56, 56)), ["make it red", "a circle"], [images(1, size=(56, 56))[0], None])
    assert value.shape == (2,) and torch.isfinite(value).all()
    assert ((value >= 0) & (value <= 1)).all()
    # the model answered (random text, so malformed); no attempt failed inside the judge itself
    judge_reward = reward.parts[0][2]
    assert all(e.startswith("malformed") for errors in judge_reward.errors for e in errors)


# ---- hpsv3 -----------------------------------------------------------------------------------------------------

def save_tiny_hpsv3(folder):
    """A tiny Qwen2-VL base folder (config, tokenizer, image processor; no weights) and HPSv3.safetensors in the
    published layout: transformers 4.45 keys, vocabulary grown by <|Reward|>, a ranknet MLP head."""
    from safetensors.torch import save_file
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from dreamlite.text.tokenizer import build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer([INSTRUCTION, RATING] + PROMPTS, vocab_size=600)
    ids = {k: tokenizer.convert_tokens_to_ids(k)
           for k in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|im_end|>")}
    config = Qwen2VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         bos_token_id=ids["<|im_end|>"], eos_token_id=ids["<|im_end|>"],
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False)
    folder.mkdir(parents=True)
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2).save_pretrained(folder)
    model = Qwen2VLForConditionalGeneration(config).eval()
    tokenizer.add_special_tokens({"additional_special_tokens": [REWARD_TOKEN]})
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():  # weights large enough that positions, image and prompt all move the score
        for name, param in model.named_parameters():
            param.normal_(1.0 if "norm" in name else 0.0, 0.3)
    head = torch.nn.Sequential(torch.nn.Linear(32, 24), torch.nn.ReLU(), torch.nn.Dropout(0.05),
                               torch.nn.Linear(24, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)).eval()
    old = {"model.language_model.": "model.", "model.visual.": "visual."}
    state = {}
    for key, value in model.state_dict().items():
        for new, published in old.items():
            if key.startswith(new):
                key = published + key[len(new):]
        state[key] = value.contiguous()
    state.update({f"rm_head.{k}": v for k, v in head.state_dict().items()})
    save_file(state, folder / "HPSv3.safetensors")
    return model, head, tokenizer


@pytest.fixture(scope="module")
def hpsv3_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hpsv3") / "Qwen2-VL-7B-Instruct"
    return folder, *save_tiny_hpsv3(folder)


def manual_hpsv3(model, head, tokenizer, image, prompt):
    """HPSv3's forward by hand: token embeddings, image features scattered into the pad tokens, the language
    model with its default (1-D) positions, the head at <|Reward|>, mu."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    processor = Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2,
                                         min_pixels=256 * 28 * 28, max_pixels=256 * 28 * 28)
    vision = processor(images=[Image.fromarray(image)], return_tensors="pt")
    n = int(vision["image_grid_thw"][0].prod()) // 4
    text = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
            + "<|image_pad|>" * n + "<|vision_end|>" + INSTRUCTION.format(text_prompt=prompt) + RATING
            + "<|im_end|>\n<|im_start|>assistant\n")
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        lm = model.model.language_model
        embeds = lm.embed_tokens(ids)
        feats = torch.cat(model.model.get_image_features(vision["pixel_values"], vision["image_grid_thw"],
                                                         return_dict=True).pooler_output)
        embeds[ids == model.config.image_token_id] = feats
        hidden = lm(inputs_embeds=embeds).last_hidden_state
        return head(hidden[ids == tokenizer.convert_tokens_to_ids(REWARD_TOKEN)])[0, 0].item()


def test_hpsv3_loads_the_published_layout_and_matches_its_forward(hpsv3_dir):
    folder, model, head, tokenizer = hpsv3_dir
    reward = build_reward([{"name": "hpsv3", "args": {"path": str(folder), "batch_size": 3}}])
    imgs = images(3, size=(60, 90))
    value = reward(imgs, PROMPTS[:3])
    assert value.shape == (3,) and torch.isfinite(value).all() and value.unique().numel() == 3
    expected = [manual_hpsv3(model, head, tokenizer, i, p) for i, p in zip(imgs, PROMPTS[:3])]
    torch.testing.assert_close(value, torch.tensor(expected), atol=1e-4, rtol=1e-4)
    assert reward.components["hpsv3/sigma"].shape == (3,)
    # padding of the shorter prompts in a batch changes nothing; a repeat call gives the same numbers
    single = build_reward([{"name": "hpsv3", "args": {"path": str(folder), "batch_size": 1}}])
    torch.testing.assert_close(single(imgs, PROMPTS[:3]), value, atol=1e-5, rtol=1e-5)
    assert torch.equal(reward(imgs, PROMPTS[:3]), value)
    edit = reward(imgs, PROMPTS[:3], [None, imgs[0], None])
    torch.testing.assert_close(edit, torch.stack([value[0], torch.tensor(0.0), value[2]]), atol=1e-5, rtol=1e-5)
    assert torch.isnan(reward.components["hpsv3/sigma"][1])


def test_hpsv3_errors_are_one_line(hpsv3_dir, tmp_path):
    folder = hpsv3_dir[0]
    cases = [({"path": str(tmp_path)}, "no config.json"),
             ({"path": str(folder), "checkpoint": str(tmp_path / "HPSv3.pth")}, "safetensors only"),
             ({"path": str(folder), "backend": "torch"}, "backend"),
             ({}, "needs `path`")]
    for args, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            build_reward([{"name": "hpsv3", "args": args}])
        assert "\n" not in str(err.value)
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "HPSv3.safetensors")
    del state["model.layers.0.mlp.up_proj.weight"]
    save_file(state, tmp_path / "cut.safetensors")
    with pytest.raises(ValueError, match=r"does not fit .* missing 1 \(e.g. model.language_model.layers.0.mlp"):
        build_reward([{"name": "hpsv3", "args": {"path": str(folder), "checkpoint": tmp_path / "cut.safetensors"}}])
    if importlib.util.find_spec("hpsv3") is None:
        with pytest.raises(ValueError, match="pip install hpsv3"):
            build_reward([{"name": "hpsv3", "args": {"backend": "hpsv3"}}])


def test_reward_head_shapes_follow_the_checkpoint():
    state = {"rm_head.0.weight": torch.zeros(8, 4), "rm_head.0.bias": torch.zeros(8),
             "rm_head.3.weight": torch.zeros(2, 8)}
    head = reward_head(state)
    assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Identity", "Linear"]
    assert head[3].bias is None
    assert isinstance(reward_head({"rm_head.weight": torch.zeros(2, 4)}), torch.nn.Linear)
    with pytest.raises(ValueError, match="no rm_head"):
        reward_head({"lm_head.weight": torch.zeros(2, 4)})
