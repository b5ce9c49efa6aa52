"""Detector, colour classifier and local judge load from folders of tiny random models of the real architectures
(Mask2Former, CLIP, Qwen2.5-VL), built and saved here with safetensors, and do their jobs on real inputs."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dreamlite.evals import EvalError
from dreamlite.evals.geneval import COLORS, OBJECT_NAMES
from dreamlite.evals.geneval.clip import load_clip
from dreamlite.evals.geneval.detector import instance_detections, load_detector, mask_box
from dreamlite.evals.geneval.rules import Detection
from dreamlite.evals.geneval.sampling import write_metadata
from dreamlite.evals.geneval.score import score_folder
from dreamlite.evals.identity import sha256_file, weights_identity
from dreamlite.evals.imgedit import parse_answer
from dreamlite.evals.judges import ask_with_retries
from dreamlite.evals.judges.local_vlm import chat_text, load_local_judge

from .evals_tiny import save_tiny_clip, save_tiny_mask2former, save_tiny_qwen25vl


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory):
    return save_tiny_mask2former(tmp_path_factory.mktemp("mask2former"))


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip"))


def scene(seed=0, size=(80, 64)):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)).resize(size)


def test_instance_detections_follow_mask2formers_rule():
    class_logits = torch.full((3, 81), -10.0)
    class_logits[0, 15] = 10.0  # query 0: surely a cat
    class_logits[1, 80] = 10.0  # query 1: "no object"
    mask_logits = torch.full((3, 20, 30), -5.0)
    mask_logits[0, 4:10, 6:16] = 5.0
    found = instance_detections(class_logits, mask_logits, top_k=3, min_score=0.3)
    assert len(found) == 1
    label, score, mask = found[0]
    assert OBJECT_NAMES[label] == "cat"
    assert score == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item(), rel=1e-3)  # ~1 x mean mask prob
    assert mask_box(mask) == (6.0, 4.0, 16.0, 10.0)


def test_mask2former_loads_from_a_folder_and_detects(detector_dir):
    detector = load_detector(detector_dir)
    assert (detector.processor.size.shortest_edge, detector.processor.size.longest_edge) == (800, 1333)  # GenEval's
    image = scene()
    found = detector.detect(image, min_score=0.0)
    assert found and set(found) <= set(OBJECT_NAMES)
    for detections in found.values():
        for d in detections:
            assert d.mask.shape == (64, 80) and 0 < d.score <= 1
            assert d.box == mask_box(d.mask)


def test_a_detector_without_cocos_80_classes_is_refused(tmp_path):
    with pytest.raises(EvalError, match="80"):
        load_detector(save_tiny_mask2former(tmp_path, num_labels=5))


def test_clip_loads_from_a_folder_and_classifies_masked_crops(clip_dir):
    classifier = load_clip(clip_dir)
    weights = classifier.text_weights("car")
    assert weights.shape == (16, len(COLORS))
    assert torch.allclose(weights.norm(dim=0), torch.ones(len(COLORS)), atol=1e-5)
    assert (weights[:, 0] - weights[:, 1]).abs().max() > 1e-4  # the colours' templates differ
    image = scene(1)
    mask = np.zeros((64, 80), bool)
    mask[10:40, 20:50] = True
    colours = classifier.classify(image, [Detection((20.0, 10.0, 50.0, 40.0), 0.9, mask),
                                          Detection((0.0, 0.0, 80.0, 64.0), 0.9, None)], "car")
    assert len(colours) == 2 and set(colours) <= set(COLORS)


def test_a_folder_is_scored_and_the_results_name_their_weights(tmp_path, detector_dir, clip_dir):
    records = [{"tag": "single_object", "include": [{"class": "cat", "count": 1}], "prompt": "a photo of a cat"},
               {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a red car"}]
    prompts = tmp_path / "evaluation_metadata.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in records))
    root = tmp_path / "run"
    write_metadata(root, records)
    for i in range(2):
        scene(i).save(root / f"{i:05d}" / "samples" / "0000.png")
    identity = {"detector": weights_identity(detector_dir), "clip": weights_identity(clip_dir)}
    small = {"shortest_edge": 64, "longest_edge": 128}
    scores = score_folder(root, load_detector(detector_dir, size=small), load_clip(clip_dir), identity=identity,
                          metadata_file=prompts)
    assert scores["benchmark"] == "GenEval-compatible" and scores["images"] == 2
    assert scores["detector"]["sha256"]["model.safetensors"] == sha256_file(detector_dir / "model.safetensors")
    assert scores["prompt_files"]["evaluation_metadata.jsonl"] == sha256_file(prompts)
    lines = [json.loads(x) for x in (root / "results.jsonl").read_text().splitlines()]
    assert {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"} <= set(lines[0])
    assert (root / "scores.md").is_file() and Image.open(root / "grid.png").size[0] > 0


def test_qwen25vl_judge_loads_from_a_folder_and_answers(tmp_path):
    folder = save_tiny_qwen25vl(tmp_path / "judge")
    judge = load_local_judge(folder, max_new_tokens=6)
    assert type(judge.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert judge.identity["sha256"]["model.safetensors"] == sha256_file(folder / "model.safetensors")
    parts = ["Rate this edit: <edit_prompt>", scene(0, (56, 56)), scene(1, (70, 56))]
    assert chat_text(parts).count("<|image_pad|>") == 2
    answer = judge.ask(parts)
    assert isinstance(answer, str)
    assert judge.ask(parts) == answer  # greedy decoding
    verdict = ask_with_retries(judge, parts, parse_answer, attempts=2)  # random weights: malformed, no crash
    assert not verdict.ok and len(verdict.errors) == 2 and len(verdict.answers) == 2
