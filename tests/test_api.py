"""The names the issues promise at the package top level."""

import cinlab


def test_top_level_names():
    for name in (
        "load_image",
        "save_image",
        "LossNetwork",
        "gram_matrix",
        "gatys",
        "TransformerNet",
        "ConditionalInstanceNorm2d",
        "load_model",
        "show_images",
        "by_mode",
    ):
        assert callable(getattr(cinlab, name)), name
    assert set(cinlab.__all__) <= set(dir(cinlab))


def test_fast_mode_follows_the_environment(monkeypatch):
    monkeypatch.setenv("CINLAB_FAST", "1")
    assert cinlab.fast_mode() and cinlab.by_mode(fast=1, cpu=2, gpu=3) == 1
    monkeypatch.setenv("CINLAB_FAST", "0")
    assert not cinlab.fast_mode() and cinlab.by_mode(fast=1, cpu=2) == 2
