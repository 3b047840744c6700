"""The figure-reproduction pipeline, end to end in its fast profile, and its packs."""

import json

import pytest

from cinlab.checkpoint import load_model
from cinlab.packs import MAX_PACK_BYTES, MAX_PACK_FILES, install, pack
from cinlab.reproduce import FIG5_STYLES, choose_unit, main, training_seconds


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    pack_dir = root / "pack"
    summary = main(
        [
            "--profile",
            "fast",
            "--runs",
            str(root / "runs"),
            "--data",
            str(root / "data"),
            "--pack",
            str(pack_dir),
            "--quiet",
        ]
    )
    return root, summary


def test_fast_profile_trains_publishes_and_summarises(fast_run):
    root, summary = fast_run
    models = root / "data" / "models"
    assert load_model(models / "impressionist10.pt").num_styles == 10
    assert load_model(models / "varied32.pt").num_styles == 32
    grown = load_model(models / "varied32_plus_van_gogh_cottages.pt")
    assert grown.num_styles == 33 and grown.style_names[-1] == "van_gogh_cottages"
    for style in FIG5_STYLES:
        assert load_model(models / f"single_{style}.pt").style_names == [style]
    results = root / "data" / "results"
    assert json.loads((results / "summary.json").read_text())["profile"] == "fast"
    assert (results / "finetune_eval.csv").exists() and (results / "impressionist10_train.csv").exists()
    assert all((results / f"{name}.jpg").stat().st_size > 1000 for name in ("fig4", "fig1b", "fig7"))
    assert set(summary["fig5"]["per_style"]) == set(FIG5_STYLES)
    unit = summary["unit"]
    assert summary["fig5"]["step"] == unit
    assert (summary["fig5_equal_images_per_style"]["step"], summary["fig5_equal_images_per_style"]["single_step"]) == (
        10 * unit,
        unit,
    )
    assert len(summary["fig7"]["loss_a"]) == 11
    assert set(summary["blobs"]) == {"impressionist10", "varied32"} and len(summary["blobs"]["varied32"]) == 32
    # A second call finds every run finished and retrains nothing.
    again = main(["--profile", "fast", "--runs", str(root / "runs"), "--no-publish", "--quiet"])
    assert again["fig5"] == summary["fig5"]


def test_a_pack_fits_the_transfer_limits_and_installs_byte_identical(fast_run, tmp_path):
    root, _ = fast_run
    files = sorted((root / "pack").iterdir())
    assert 2 <= len(files) <= MAX_PACK_FILES and all(f.stat().st_size <= MAX_PACK_BYTES for f in files)
    installed = install(root / "pack", tmp_path / "data")
    for name in installed:
        assert (tmp_path / "data" / name).read_bytes() == (root / "data" / name).read_bytes(), name
    assert "models/impressionist10.pt" in installed and "results/summary.json" in installed


def test_a_damaged_pack_is_refused_before_anything_is_written(fast_run, tmp_path):
    root, _ = fast_run
    damaged = tmp_path / "pack"
    damaged.mkdir()
    for f in (root / "pack").iterdir():
        (damaged / f.name).write_bytes(f.read_bytes())
    part = damaged / "cinlab-pack.part1"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt or incomplete"):
        install(damaged, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_pack_refuses_results_that_need_more_than_eight_files(tmp_path, monkeypatch):
    import cinlab.packs as packs

    (tmp_path / "models").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "models" / "big.pt").write_bytes(b"x" * 9000)
    monkeypatch.setattr(packs, "MAX_PACK_BYTES", 5096)  # parts of 1,000 bytes
    with pytest.raises(ValueError, match="more than"):
        pack(tmp_path, tmp_path / "out")


def test_the_gpu_profile_sizes_its_runs_from_the_measured_speed():
    assert choose_unit(480.0, 60.0) == 1020  # 28 u steps fill 480 s at 60 steps/s
    assert choose_unit(480.0, 30.0) == 500
    assert choose_unit(480.0, 0.5) == 20  # never below one evaluation interval
    # 9 minutes in all; 60 s already spent measuring: 540 - 60 - 8 runs x 15 s - 60 s at the end
    assert training_seconds(540.0, 60.0) == 300.0 and training_seconds(100.0, 60.0) == 0.0
