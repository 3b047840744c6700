"""Each setting has one home: TrainConfig's defaults are the default preset, the paper's numbers live
in cinlab.paper, every TrainConfig field is a command-line option, and a run's metadata records its
config once."""

import dataclasses
from pathlib import Path

import pytest

import cinlab
from cinlab.cli import _train_overrides, build_parser
from cinlab.paper import PAPER_SETTINGS
from cinlab.train import PRESETS, TrainConfig, Trainer

PACKAGE = Path(cinlab.__file__).parent


def test_the_defaults_are_the_default_preset():
    assert TrainConfig() == TrainConfig.preset("vgg19")
    assert PRESETS["vgg19"] == {}
    for name, changes in PRESETS.items():
        assert set(changes) <= {f.name for f in dataclasses.fields(TrainConfig)}, name


def test_the_paper_s_settings_are_the_defaults_where_cinlab_follows_the_paper():
    config = TrainConfig()
    for key in (
        "steps",
        "batch_size",
        "crop_size",
        "lr",
        "content_layers",
        "style_layers",
        "content_weight",
        "style_weight",
    ):
        assert getattr(config, key) == PAPER_SETTINGS[key], key


@pytest.mark.parametrize(
    "literal, home",
    [
        ("40_000", "paper.py"),  # the paper's steps
        ('"relu1_2", "relu2_2", "relu3_3", "relu4_3"', "paper.py"),  # the paper's style layers
        ("255.0 * sum(TORCHVISION_STD)", "loss_network.py"),  # the torchvision activation scale
        ('"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"', "optimization.py"),  # Gatys' layers
    ],
)
def test_each_default_is_written_in_one_place(literal, home):
    # reference.py restates the paper on purpose: it is the independent oracle the library is tested against.
    places = [p.name for p in sorted(PACKAGE.glob("*.py")) if literal in p.read_text() and p.name != "reference.py"]
    assert places == [home], f"{literal} is written in {places}"


def _sample(name, kind, default):
    """A command-line value for a field and what TrainConfig should then hold."""
    import typing

    if kind is bool:
        return ["--no-compile"] if default else ["--compile"], not default
    if typing.get_origin(kind) is typing.Literal:
        choice = next(c for c in typing.get_args(kind) if c != default)
        return [choice], choice
    if kind is int:
        return ["7"], 7
    if kind is float:
        return ["0.25"], 0.25
    if kind is dict:
        return ["relu1_2=0.5", "relu4_3=2"], {"relu1_2": 0.5, "relu4_3": 2.0}
    if kind is list:
        return ["0.5", "2"], [0.5, 2.0]
    if kind is tuple:
        return ["relu2_1", "relu3_1"], ("relu2_1", "relu3_1")
    if kind is typing.Any:
        return ["astronaut", "coffee"], ["astronaut", "coffee"]
    return ["plain"], "plain"


def test_every_train_config_field_is_an_option_of_train():
    from cinlab.cli import _training_fields

    parser = build_parser()
    reached = set()
    for name, kind, help_text, default in _training_fields():
        if name == "styles":
            args = parser.parse_args(["train", "--out", "x", "--styles", "ihc", "brick"])
            assert args.styles == ["ihc", "brick"]
            reached.add(name)
            continue
        values, expected = _sample(name, kind, default)
        flag = "--" + name.replace("_", "-")
        args = parser.parse_args(
            ["train", "--out", "x", "--styles", "ihc", *([flag, *values] if kind is not bool else values)]
        )
        assert _train_overrides(args) == {name: expected}, name
        assert help_text, name
        reached.add(name)
    assert reached == {f.name for f in dataclasses.fields(TrainConfig)}


def test_every_option_of_every_command_has_help_text():
    parser = build_parser()
    for command, sub in parser._subparsers._group_actions[0].choices.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"cinlab {command} {action.option_strings[0]} has no help text"


def test_a_new_field_needs_no_edit_of_the_command_line(monkeypatch):
    """The command line is derived from TrainConfig: a field added to it is an option at once."""
    import typing

    import cinlab.cli as cli

    real = list(cli._training_fields())
    extra = ("warmup_steps", int, "steps of learning-rate warm-up", 0)
    monkeypatch.setattr(cli, "_training_fields", lambda: iter([*real, extra]))
    args = cli.build_parser().parse_args(["train", "--out", "x", "--styles", "ihc", "--warmup-steps", "5"])
    assert cli._train_overrides(args) == {"warmup_steps": 5}
    assert typing.get_type_hints(TrainConfig)  # (the real TrainConfig is unchanged)


def test_metadata_is_the_config_once_plus_run_facts(tmp_path):
    config = TrainConfig.preset("fast", styles=["ihc"], content=["astronaut"], steps=2, tv_weight=0.5)
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    trainer = Trainer(config, device="cpu", loss_network=cinlab.LossNetwork("random", layers=layers))
    trainer.fit(progress=False)
    meta = trainer.metadata()
    assert TrainConfig.from_metadata(meta) == dataclasses.replace(config, held_out=tuple(config.held_out))
    # At the top, "styles" are the trained styles' names (the config may hold file paths) and "precision"
    # the dtype the run used (the config may say "auto"): run facts, not copies of the config.
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"styles", "precision"}
    assert not fields & set(meta), f"config values repeated outside 'config': {sorted(fields & set(meta))}"
    assert meta["step"] == 2 and meta["trainable"] == "all"
    assert trainer.history[-1]["tv"] > 0  # the TV weight reached the loss: a term of its own


def test_old_metadata_with_fields_at_the_top_still_reads():
    old = {"crop_size": 96, "batch_size": 8, "style_size": 144, "styles": ["a"], "step": 10, "image_size": 96}
    config = TrainConfig.from_metadata(old)
    assert (config.crop_size, config.batch_size, config.style_size) == (96, 8, 144)
