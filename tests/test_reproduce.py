"""The figure-reproduction pipeline, end to end in its fast profile, and its packs."""

import hashlib
import json
from pathlib import Path

import pytest

import cinlab.reproduce as reproduce
from cinlab.checkpoint import load_model
from cinlab.config import assets_dir
from cinlab.packs import MAX_PACK_BYTES, MAX_PACK_FILES, PackError, install, pack
from cinlab.reproduce import FIG5_STYLES, Run, choose_unit, main, publish, training_seconds

#: A run added to the campaign by the fixture below: shipping a new network is one record.
EXTRA = Run("extra", ("ihc",), 1, 0.05, shipped="extra_ihc", blobs=True)


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module", autouse=True)
def run_table_with_an_extra_record():
    """Every campaign in this module has one more record in the run table than the shipped one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reproduce, "RUNS", (*reproduce.RUNS, EXTRA))
        yield


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """The whole campaign in its fast profile (with the extra record)."""
    root = tmp_path_factory.mktemp("reproduce")
    shipped_before = _fingerprint(assets_dir())
    summary = main(["--profile", "fast", "--runs", str(root / "runs"), "--pack", str(root / "pack"), "--quiet"])
    assert _fingerprint(assets_dir()) == shipped_before, "the fast profile wrote into the project's data/"
    return root, summary


def test_fast_profile_trains_stages_and_summarises(fast_run):
    root, summary = fast_run
    staged = root / "runs" / "fast" / "results"
    models = staged / "models"
    assert load_model(models / "impressionist10.pt").num_styles == 10
    assert load_model(models / "varied32.pt").num_styles == 32
    grown = load_model(models / "varied32_plus_van_gogh_cottages.pt")
    assert grown.num_styles == 33 and grown.style_names[-1] == "van_gogh_cottages"
    for style in FIG5_STYLES:
        assert load_model(models / f"single_{style}.pt").style_names == [style]
    unit = summary["unit"]
    assert (models / f"scratch_van_gogh_cottages_step{unit}.pt").exists()
    results = staged / "results"
    assert json.loads((results / "summary.json").read_text())["profile"] == "fast"
    assert (results / "finetune_eval.csv").exists() and (results / "impressionist10_train.csv").exists()
    assert all((results / f"{name}.jpg").stat().st_size > 1000 for name in ("fig4", "fig1b", "fig7"))
    assert set(summary["fig5"]["per_style"]) == set(FIG5_STYLES)
    assert summary["fig5"]["step"] == unit
    assert (summary["fig5_equal_images_per_style"]["step"], summary["fig5_equal_images_per_style"]["single_step"]) == (
        10 * unit,
        unit,
    )
    assert len(summary["fig7"]["loss_a"]) == 11
    assert len(summary["blobs"]["varied32"]) == 32
    # A second call finds every run finished and retrains nothing.
    again = main(["--profile", "fast", "--runs", str(root / "runs"), "--quiet"])
    assert again["fig5"] == summary["fig5"]


def test_a_new_shipped_network_is_one_record_in_the_run_table(fast_run):
    root, summary = fast_run
    extra = load_model(root / "runs" / "fast" / "results" / "models" / "extra_ihc.pt")
    assert extra.style_names == ["ihc"] and extra.metadata["step"] == summary["unit"]
    assert (root / "runs" / "fast" / "results" / "results" / "extra_eval.csv").exists()
    assert set(summary["blobs"]) == {"impressionist10", "varied32", "extra"} and "extra" in summary["timings_s"]
    assert "extra_ihc.pt" not in _fingerprint(assets_dir())


def test_publishing_over_shipped_files_must_be_asked_for(fast_run, tmp_path, capsys):
    root, _ = fast_run
    staged = root / "runs" / "fast" / "results"
    data = tmp_path / "data"
    written = publish(staged, data)  # a new folder: nothing to replace
    assert (data / "models" / "impressionist10.pt").read_bytes() == (
        staged / "models" / "impressionist10.pt"
    ).read_bytes()
    assert len(written) == len(_fingerprint(staged))
    (data / "models" / "impressionist10.pt").write_bytes(b"the shipped network")
    before = _fingerprint(data)
    with pytest.raises(FileExistsError, match="impressionist10.pt.*overwrite"):
        publish(staged, data)
    assert _fingerprint(data) == before
    with pytest.raises(SystemExit) as exit:
        main(["--profile", "fast", "--runs", str(root / "runs"), "--publish", str(data), "--quiet"])
    assert exit.value.code == 2 and "overwrite" in capsys.readouterr().err.splitlines()[-1]
    assert _fingerprint(data) == before
    publish(staged, data, overwrite=True)
    assert _fingerprint(data) == {k: v for k, v in _fingerprint(staged).items()}


def test_a_pack_fits_the_transfer_limits_and_installs_byte_identical(fast_run, tmp_path):
    root, _ = fast_run
    files = sorted((root / "pack").iterdir())
    assert 2 <= len(files) <= MAX_PACK_FILES and all(f.stat().st_size <= MAX_PACK_BYTES for f in files)
    installed = install(root / "pack", tmp_path / "data")
    staged = root / "runs" / "fast" / "results"
    assert set(installed) == set(_fingerprint(staged))
    for name in installed:
        assert (tmp_path / "data" / name).read_bytes() == (staged / name).read_bytes(), name
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
    with pytest.raises(PackError, match="corrupt or incomplete"):
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


def _repack(pack_dir: Path, out: Path, edit) -> Path:
    """A copy of a pack whose files ``edit(files)`` changed, packed again with a consistent manifest
    (what someone crafting a pack would do)."""
    from cinlab.packs import read_pack

    files = read_pack(pack_dir)
    edit(files)
    folder = out / "unpacked"
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    for sub in ("models", "results"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    pack(folder, out / "pack")
    return out / "pack"


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path, capsys):
    import zipfile

    bomb = tmp_path / "bomb"
    bomb.mkdir()
    blob_path = tmp_path / "archive.zip"
    with zipfile.ZipFile(blob_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("results/big.csv", "w", force_zip64=True) as f:
            zeros = bytes(2**20)
            for _ in range(1024):  # 1 GiB of zeros, ~1 MiB zipped
                f.write(zeros)
    blob = blob_path.read_bytes()
    assert len(blob) < 2 * 2**20
    (bomb / "cinlab-pack.part1").write_bytes(blob)
    digest = hashlib.sha256(blob).hexdigest()
    manifest = {
        "format": "cinlab-pack",
        "version": 1,
        "sha256": digest,
        "parts": [{"file": "cinlab-pack.part1", "bytes": len(blob), "sha256": digest}],
    }
    (bomb / "cinlab-pack.json").write_text(json.dumps(manifest))
    with pytest.raises(PackError, match="more than a pack ever holds"):
        install(bomb, tmp_path / "data")
    assert not (tmp_path / "data").exists()
    with pytest.raises(SystemExit) as exit:
        main(["--install", str(bomb), "--publish", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_a_pack_with_a_bad_entry_installs_nothing(fast_run, tmp_path):
    root, _ = fast_run
    data = tmp_path / "data"

    def bad_last(files):  # a sound first entry, then a checkpoint that is not one
        files["models/zz_not_a_network.pt"] = b"not a checkpoint"

    crafted = _repack(root / "pack", tmp_path / "crafted", bad_last)
    with pytest.raises(PackError, match="zz_not_a_network.pt.*not a sound checkpoint"):
        install(crafted, data)
    assert not any(p.is_file() for p in data.rglob("*"))  # nothing half-installed


def test_a_crafted_network_that_breaks_the_figures_is_refused(fast_run, tmp_path):
    """A valid checkpoint of the wrong network under a shipped name (1 style instead of 10)."""
    root, _ = fast_run
    data = tmp_path / "data"
    install(root / "pack", data)
    before = _fingerprint(data)
    staged = root / "runs" / "fast" / "results" / "models"

    def swap(files):
        files["models/impressionist10.pt"] = (staged / "single_olive_trees.pt").read_bytes()

    crafted = _repack(root / "pack", tmp_path / "crafted", swap)
    with pytest.raises(PackError, match=r"impressionist10.pt holds the styles \['olive_trees'\], not the 10"):
        install(crafted, data, check=reproduce.check_results, overwrite=True)
    assert _fingerprint(data) == before
    with pytest.raises(FileExistsError, match="impressionist10.pt"):
        install(crafted, data)  # replacing shipped files needs overwrite even before the check
