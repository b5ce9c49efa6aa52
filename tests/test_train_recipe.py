"""Recipes: the shipped ones parse, mistakes get one clear line, overrides and step caps apply."""

from __future__ import annotations

import pytest
import torch
import yaml

from dreamlite.cli import main
from dreamlite.train.config import RecipeError
from dreamlite.train.loop import check_out_dir, lr_at
from dreamlite.train.recipe import REPO_RECIPES, OptimizerSpec, load_recipe, parse_recipe


@pytest.mark.parametrize("name", ["smoke", "shapes-tiny", "shapes-base", "shapes-base-128", "shapes-base-96",
                                  "dreamlite-0.39b"])
def test_shipped_recipes_parse(name):
    recipe = load_recipe(name)
    assert [s.name for s in recipe.stages] == ["t2i", "edit", "joint", "sft"]
    assert recipe.stages[0].mixture == {"t2i": 1.0} and recipe.stages[1].mixture == {"edit": 1.0}
    assert recipe.stages[2].mixture["t2i"] > 0 and recipe.stages[2].mixture["edit"] > 0
    # The resolved recipe round-trips through its own YAML dump.
    again = parse_recipe(yaml.safe_load(recipe.dump()))
    assert again.to_dict() == recipe.to_dict()


def test_experiment_recipes_parse_and_differ_only_where_they_say():
    base = load_recipe(str(REPO_RECIPES / "experiments" / "copy-base.yaml"))
    top = load_recipe(str(REPO_RECIPES / "experiments" / "copy-topattn.yaml"))
    assert [s.name for s in base.stages] == ["edit"] and base.stages[0].mixture == {"edit": 1.0}
    assert base.model.unet["down_block_types"][0] == "DreamLiteCrossAttnNoSelfAttnDownBlock2D"
    assert top.model.unet["down_block_types"][0] == "DreamLiteCrossAttnDownBlock2D"
    assert top.model.unet["up_block_types"][-1] == "DreamLiteCrossAttnUpBlock2D"
    mine, theirs = top.to_dict(), base.to_dict()
    assert {k for k in mine if mine[k] != theirs[k]} == {"name", "model"}
    keep = load_recipe(str(REPO_RECIPES / "experiments" / "encoder-keep.yaml"))
    swap = load_recipe(str(REPO_RECIPES / "experiments" / "encoder-swap.yaml"))
    assert keep.model.init == swap.model.init and keep.model.prompt_encoder.path is None
    assert swap.model.prompt_encoder.path == "runs/shapes-prompt-encoder"
    mine, theirs = swap.to_dict(), keep.to_dict()
    assert {k for k in mine if mine[k] != theirs[k]} == {"name", "model"}
    assert {k for k in mine["model"] if mine["model"][k] != theirs["model"][k]} == {"prompt_encoder"}
    anchor = load_recipe(str(REPO_RECIPES / "experiments" / "encoder-anchor.yaml"))
    assert anchor.model.prompt_encoder.path == "runs/shapes-prompt-encoder-anchored" and anchor.stages == keep.stages
    wide = load_recipe(str(REPO_RECIPES / "experiments" / "continue-96.yaml"))
    assert wide.model.init == keep.model.init and wide.model.unet["sample_size"] == 12
    assert {s.resolution for s in wide.stages} == {96} and {s.name for s in wide.stages} == {"joint", "sft"}
    for name, twin in (("copy-pos", base), ("positions-keep", keep)):
        positioned = load_recipe(str(REPO_RECIPES / "experiments" / f"{name}.yaml"))
        mine, theirs = positioned.to_dict(), twin.to_dict()
        assert {k for k in mine if mine[k] != theirs[k]} == {"name", "model"}
        assert positioned.model.unet == {**(twin.model.unet or {}), "in_context_positions": True}


def test_cpu_96_recipe_continues_the_bundle_in_resumable_stages():
    recipe = load_recipe("shapes-base-96-cpu")
    assert recipe.model.init == "shapes-base" and recipe.model.unet["sample_size"] == 12
    assert recipe.model.prompt_encoder.path == load_recipe("shapes-base-96").model.prompt_encoder.path
    names = [s.name for s in recipe.stages]
    assert names == [f"joint-{i:02d}" for i in range(1, 14)] + ["anneal", "sft", "sft-edit"]
    anneal = recipe.stages[names.index("anneal")]  # the joint mixture with the learning rate falling to 0
    assert anneal.optimizer.schedule == "cosine" and anneal.optimizer.min_lr_ratio == 0
    assert anneal.mixture == recipe.stages[0].mixture
    sft, last = recipe.stages[-2:]  # the closing SFT on new items, tilted toward editing
    assert last.mixture["edit"] > sft.mixture["edit"] and last.data["edit"] != sft.data["edit"]
    assert {s.resolution for s in recipe.stages} == {96} and {s.batch for s in recipe.stages} == {32}
    assert recipe.run.save_every <= 200


def test_dreamlite_recipe_is_the_published_architecture():
    from dreamlite.models.config import UNetConfig, get_unet_config
    from dreamlite.train.components import unet_config

    recipe = load_recipe("dreamlite-0.39b")
    assert unet_config(recipe.model.unet) == get_unet_config("dreamlite-0.39b")
    assert isinstance(unet_config(load_recipe("shapes-tiny").model.unet), UNetConfig)


def smoke_data() -> dict:
    return yaml.safe_load((REPO_RECIPES / "smoke.yaml").read_text())


@pytest.mark.parametrize("change, message", [
    (lambda d: d["stages"][0].update(lr=1), "stages[0]: unknown field 'lr'"),
    (lambda d: d["stages"][0].update(mixture={"t2v": 1.0}), "mixture: tasks are"),
    (lambda d: d["stages"][1].update(data={"edit": {"nope": 1.0}}), "no source named 'nope'"),
    (lambda d: d["stages"][0].update(steps="ten"), "stages[0].steps: expected an integer"),
    (lambda d: d["stages"][0].update(resolution=30), "multiples of 8"),
    (lambda d: d["stages"][0].update(name="final"), "plain folder name"),
    (lambda d: d["stages"][1].update(name="t2i"), "unique"),
    (lambda d: d["stage_defaults"]["optimizer"].update(schedule="step"), "constant, cosine or linear"),
    (lambda d: d["stage_defaults"].update(micro_batch=3), "must divide batch"),
    (lambda d: d["stage_defaults"].update(dropout={"text": 0.8, "image": 0.3}), "sum to at most 1"),
    (lambda d: d["sources"].update(bad={"kind": "s3"}), "unknown source kind 's3'"),
    (lambda d: d["sources"].update(bad={"kind": "files", "path": "x", "task": "video"}), "expected t2i or edit"),
    (lambda d: d["model"].update(unet="giant"), "unknown config 'giant'"),
    (lambda d: d["run"].update(mixed_precision="fp8"), "mixed_precision"),
])
def test_mistakes_name_the_field(change, message):
    data = smoke_data()
    change(data)
    with pytest.raises(RecipeError, match=None) as info:
        parse_recipe(data)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_source_task_must_match():
    data = smoke_data()
    data["sources"]["captions"] = {"kind": "files", "path": "x.jsonl", "task": "t2i"}
    data["stages"][1]["data"] = {"edit": {"captions": 1.0}}
    with pytest.raises(RecipeError, match="provides"):
        parse_recipe(data)


def test_overrides_defaults_and_step_cap():
    recipe = load_recipe("smoke", ["stages.0.steps=50", "stage_defaults.batch=8", "run.num_workers=2"], max_steps=7)
    assert [s.steps for s in recipe.stages] == [7, 6, 6, 4]
    assert all(s.batch == 8 for s in recipe.stages)
    assert recipe.run.num_workers == 2
    # A stage's own settings win over stage_defaults, and its data/mixture replace the defaults' whole.
    assert recipe.stages[3].optimizer.lr == 3e-4 and recipe.stages[0].optimizer.lr == 1e-3
    tiny = load_recipe("shapes-tiny")
    assert tiny.stages[3].data == {"t2i": {"curated": 1.0}, "edit": {"curated-edit-pool": 1.0}}
    with pytest.raises(RecipeError, match="has no item 9"):
        load_recipe("smoke", ["stages.9.steps=1"])


def test_cli_reports_recipe_errors_in_one_line(tmp_path, capsys):
    assert main(["train", "no-such-recipe", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dreamlite: error: no such recipe: no-such-recipe") and err.count("\n") == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [{name: a, steps: 1, batch: 1, mixture: {t2i: 1}, data: {t2i: {x: 1}}}]\n"
                   "model: {unet: tiny}\nsources: {}\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "no source named 'x'" in capsys.readouterr().err


def test_a_run_directory_belongs_to_one_recipe(tmp_path):
    recipe = load_recipe("smoke")
    check_out_dir(tmp_path, recipe)
    # Engineering settings may change between a run and its resumption...
    check_out_dir(tmp_path, load_recipe("smoke", ["run.save_every=1", "run.num_workers=3"]))
    # ...what is trained may not.
    with pytest.raises(RecipeError, match="different recipe"):
        check_out_dir(tmp_path, load_recipe("smoke", ["stages.0.steps=3"]))
    # The number of cache-filling processes is engineering too (a GPU run resumed on a CPU machine).
    check_out_dir(tmp_path / "base", load_recipe("shapes-base"))
    check_out_dir(tmp_path / "base", load_recipe("shapes-base", ["run.cache.workers=2", "run.threads=2"]))
    with pytest.raises(RecipeError, match="different recipe"):
        check_out_dir(tmp_path / "base", load_recipe("shapes-base", ["run.cache.dtype=float32"]))


def test_learning_rate_schedule():
    spec = OptimizerSpec(lr=1.0, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at(spec, 0, 100) == pytest.approx(0.1)
    assert lr_at(spec, 9, 100) == pytest.approx(1.0)
    assert lr_at(spec, 10, 100) == pytest.approx(1.0)
    assert lr_at(spec, 100, 100) == pytest.approx(0.1)
    assert lr_at(OptimizerSpec(lr=2.0, schedule="linear"), 50, 100) == pytest.approx(1.0)
    assert lr_at(OptimizerSpec(lr=2.0), 77, 100) == 2.0


def test_ablation_schedules_have_equal_total_steps():
    from dreamlite.train.ablation import schedules

    runs = schedules(load_recipe("shapes-tiny"), 1000)
    progressive, scratch = runs["progressive (t2i, edit, joint)"], runs["joint from scratch"]
    assert [s.name for s in progressive.stages] == ["t2i", "edit", "joint"]
    assert sum(s.steps for s in progressive.stages) == scratch.stages[0].steps == 1000
    assert progressive.stages[0].steps > progressive.stages[1].steps  # the recipe's proportions (1500:600:700)
    assert scratch.stages[0].mixture == progressive.stages[2].mixture == {"t2i": 0.5, "edit": 0.5}
    assert scratch.stages[0].optimizer == progressive.stages[0].optimizer  # a from-scratch warmup and lr
    with pytest.raises(RecipeError, match="not t2i-only"):
        schedules(load_recipe("smoke", ["stages.0.mixture={edit: 1.0}"]), 10)


def test_extends_merges_over_the_base_recipe(tmp_path):
    base, child = load_recipe("shapes-tiny"), load_recipe("shapes-base")
    assert child.name == "shapes-base"
    assert child.model == base.model  # inherited whole
    assert child.sources["edit-pool"]["items"] == 8192 and child.sources["edit-pool"]["kind"] == "shapes"
    assert child.sources["curated"]["categories"] == base.sources["curated"]["categories"]  # merged, not replaced
    assert child.stages[0].batch == 1024 and child.stages[0].optimizer.betas == base.stages[0].optimizer.betas
    assert child.run.cache.workers > 0 and child.run.cache.dtype == base.run.cache.dtype
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(str(tmp_path / "a.yaml"))


def test_init_from_a_model_at_another_resolution():
    """model.init may differ from model.unet in sample_size (the default resolution), not in what shapes weights."""
    from dreamlite.loading import load_unet, resolve_model_path
    from dreamlite.train.components import build_initial

    bundled = load_unet(resolve_model_path("shapes-base") / "unet")
    init = ["model.init=shapes-base", "model.vae.path=null", "model.prompt_encoder.path=null"]
    components = build_initial(load_recipe("shapes-base-128", init))
    assert components.unet.config.sample_size == 16 and bundled.config.sample_size == 12
    ours, theirs = components.unet.state_dict(), bundled.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    with pytest.raises(RecipeError, match="ff_mult"):
        build_initial(load_recipe("shapes-base-128", [*init, "model.unet.ff_mult=4"]))


def test_init_may_turn_the_in_context_position_code_on():
    """The position code adds no weights: a model trained without it can be continued with it."""
    from dreamlite.loading import load_unet, resolve_model_path
    from dreamlite.train.components import build_initial

    bundled = load_unet(resolve_model_path("shapes-base") / "unet")
    init = ["model.init=shapes-base", "model.vae.path=null", "model.prompt_encoder.path=null",
            "model.unet.in_context_positions=true"]
    components = build_initial(load_recipe("shapes-base-128", init))
    assert components.unet.config.in_context_positions and not bundled.config.in_context_positions
    ours, theirs = components.unet.state_dict(), bundled.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs) and ours.keys() == theirs.keys()
