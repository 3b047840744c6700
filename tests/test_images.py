"""Images by name, loading in every mode, and the errors for bad files."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import cinlab
from cinlab import images, registry
from cinlab.images import ImageError
from cinlab.registry import ImageNotAvailableError


def _base_rgb(h=12, w=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------- registry


def test_registry_sets_have_the_documented_sizes():
    assert len(registry.image_names("varied32")) == 32
    assert len(registry.image_names("impressionist10")) == 10
    finetune = registry.image_names("finetune")
    assert sorted(finetune) == ["monet_etretat_boats", "van_gogh_cottages"]
    assert not set(finetune) & set(registry.image_names("varied32")), "finetune styles are held out of varied32"


def test_registry_rows_carry_url_hash_and_credit():
    for name in registry.image_names():
        info = registry.image_info(name)
        assert info.title and info.credit, name
        if not info.builtin:
            assert info.url.startswith("https://") and len(info.sha256) == 64, name


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError, match="starry_night"):
        registry.image_info("stary_night")
    with pytest.raises(FileNotFoundError, match="starry_night"):
        cinlab.load_image("stary_night")


def test_unknown_set_lists_known_sets():
    with pytest.raises(KeyError, match="varied32"):
        registry.image_names("no_such_set")


@pytest.mark.parametrize(
    "name", ["astronaut", "chelsea", "coffee", "rocket", "grace_hopper", "camera", "motorcycle", "brick"]
)
def test_builtin_images_load_without_download(name):
    image = cinlab.load_image(name, size=64)
    assert image.shape[:2] == (1, 3) and min(image.shape[-2:]) == 64
    assert image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1


def test_registry_painting_loads_from_data_dir(has_registry_images):
    if not has_registry_images:
        pytest.skip("needs CINLAB_IMAGE_DIR pointing at ../shared/data (set by conftest when present)")
    image = cinlab.load_image("starry_night")
    info = registry.image_info("starry_night")
    assert image.shape == (1, 3, info.height, info.width)


def test_missing_file_offline_names_file_url_and_fix(tmp_path, monkeypatch):
    import pooch
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("no network in this test")

    monkeypatch.setenv("CINLAB_IMAGE_DIR", str(tmp_path))
    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", offline)
    with pytest.raises(ImageNotAvailableError) as info:
        cinlab.load_image("starry_night")
    message = str(info.value)
    assert "styles/starry_night.jpg" in message
    assert registry.image_info("starry_night").url in message
    assert "CINLAB_IMAGE_DIR" in message and "download-images" in message


def test_corrupt_cached_file_is_reported(tmp_path, monkeypatch):
    import pooch
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("no network in this test")

    (tmp_path / "styles").mkdir()
    (tmp_path / "styles" / "starry_night.jpg").write_bytes(b"not the painting")
    monkeypatch.setenv("CINLAB_IMAGE_DIR", str(tmp_path))
    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", offline)
    with pytest.raises(ImageNotAvailableError, match="corrupt"):
        cinlab.load_image("starry_night")


# ----------------------------------------------------------------------------- modes


def _reference(rgb):
    return torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]


def _palette_image(rgb):
    """The same picture as a palette ("P") image: exact, since it has at most 256 colours."""
    colours, index = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    assert len(colours) <= 256
    img = Image.fromarray(index.reshape(rgb.shape[:2]).astype(np.uint8), mode="P")
    img.putpalette(colours.astype(np.uint8).tobytes())
    return img


def test_every_colour_mode_loads_to_the_same_rgb(tmp_path):
    rgb = _base_rgb()
    ref = _reference(rgb)
    variants = {
        "rgb.png": Image.fromarray(rgb),
        "rgba_opaque.png": Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),
        "palette.png": _palette_image(rgb),
        "cmyk.tif": Image.fromarray(rgb).convert("CMYK"),
    }
    for name, img in variants.items():
        img.save(tmp_path / name)
        loaded = cinlab.load_image(tmp_path / name)
        assert loaded.shape == ref.shape, name
        torch.testing.assert_close(loaded, ref, atol=1e-6, rtol=0, msg=name)


def test_greyscale_modes_load_to_the_same_rgb(tmp_path):
    grey = _base_rgb()[..., 0]
    ref = _reference(np.repeat(grey[..., None], 3, axis=2))
    Image.fromarray(grey, mode="L").save(tmp_path / "l.png")
    Image.fromarray(np.dstack([grey, np.full_like(grey, 255)]), mode="LA").save(tmp_path / "la.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "i16.png")  # 16-bit greyscale
    for name in ["l.png", "la.png", "i16.png"]:
        loaded = cinlab.load_image(tmp_path / name)
        torch.testing.assert_close(loaded, ref, atol=1e-6, rtol=0, msg=name)
    assert Image.open(tmp_path / "i16.png").mode.startswith("I")


def test_bilevel_image_is_black_and_white(tmp_path):
    bits = _base_rgb()[..., 0] > 127
    Image.fromarray(bits).save(tmp_path / "bits.png")
    loaded = cinlab.load_image(tmp_path / "bits.png")
    expected = torch.from_numpy(bits.astype(np.float32))
    torch.testing.assert_close(loaded[0, 1], expected)


def test_transparency_is_composited_on_white(tmp_path):
    rgb = _base_rgb()
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, :8] = 255  # left half opaque, right half fully transparent
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "rgba.png")
    loaded = cinlab.load_image(tmp_path / "rgba.png")
    torch.testing.assert_close(loaded[..., :8], _reference(rgb)[..., :8])
    assert torch.all(loaded[..., 8:] == 1.0)


def test_exif_orientation_is_applied(tmp_path):
    rgb = _base_rgb()
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "rotated.png", exif=exif)
    loaded = cinlab.load_image(tmp_path / "rotated.png")
    expected = _reference(np.ascontiguousarray(np.rot90(rgb, k=-1)))
    torch.testing.assert_close(loaded, expected)


def test_arrays_pil_and_tensors_agree():
    rgb = _base_rgb()
    ref = _reference(rgb)
    for source in [
        rgb,
        np.moveaxis(rgb, -1, 0),
        rgb.astype(np.float32) / 255,
        rgb.astype(np.uint16) * 257,
        Image.fromarray(rgb),
        ref,
        ref[0],
        (ref[0] * 255).round().to(torch.uint8),
    ]:
        torch.testing.assert_close(cinlab.load_image(source), ref, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- sizes


def test_size_resizes_the_shorter_side_with_antialiasing():
    image = cinlab.load_image(_base_rgb(40, 80))
    small = cinlab.load_image(image, size=10)
    assert small.shape[-2:] == (10, 20)
    exact = cinlab.load_image(image, size=(7, 9))
    assert exact.shape[-2:] == (7, 9)
    # Antialiasing: a fine checkerboard shrinks to flat grey, not to aliased stripes.
    checker = ((np.indices((64, 64)).sum(0) % 2) * 255).astype(np.uint8)
    grey = cinlab.load_image(checker, size=8)
    assert torch.allclose(grey, torch.full_like(grey, 0.5), atol=0.05)


def test_center_crop_and_square():
    image = torch.arange(2 * 3 * 6 * 8, dtype=torch.float32).reshape(2, 3, 6, 8) / 288
    crop = cinlab.center_crop(image, 4)
    assert torch.equal(crop, image[..., 1:5, 2:6])
    assert images.square(image, 4).shape[-2:] == (4, 4)
    with pytest.raises(ValueError, match="resize it first"):
        cinlab.center_crop(image, 10)


# ----------------------------------------------------------------------------- bad input


def _png_claiming(width, height):
    """A tiny, valid-looking PNG whose header declares width x height pixels."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(40_000, 40_000))  # 1.6 gigapixels in 100 bytes
    assert path.stat().st_size < 200
    with pytest.raises(ImageError, match="max_pixels"):
        cinlab.load_image(path)
    small = tmp_path / "small.png"
    Image.fromarray(_base_rgb(20, 20)).save(small)
    with pytest.raises(ImageError, match="over the limit"):
        cinlab.load_image(small, max_pixels=100)


def test_truncated_file_gives_a_clear_error(tmp_path):
    full = tmp_path / "full.png"
    Image.fromarray(_base_rgb(64, 64)).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        cinlab.load_image(cut)


@pytest.mark.parametrize("content", [b"", b"hello, I am text\n"])
def test_non_image_file_gives_a_clear_error(tmp_path, content):
    path = tmp_path / "notes.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match="not an image"):
        cinlab.load_image(path)


def test_bad_arrays_and_tensors_are_refused():
    with pytest.raises(ImageError, match="divide by 255"):
        cinlab.load_image(torch.full((1, 3, 4, 4), 200.0))
    with pytest.raises(ImageError, match="NaN"):
        cinlab.load_image(torch.full((1, 3, 4, 4), float("nan")))
    with pytest.raises(ImageError, match="Zero-sized"):
        cinlab.load_image(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(ImageError, match="shape"):
        cinlab.load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        cinlab.load_image(np.full((4, 4, 3), 3.0, np.float32))
    with pytest.raises(TypeError, match="registry name"):
        cinlab.load_image(12345)
    with pytest.raises(FileNotFoundError):
        cinlab.load_image("/no/such/file.png")


# ----------------------------------------------------------------------------- saving


def test_save_round_trip_and_refuse_overwrite(tmp_path):
    image = _reference(_base_rgb())
    path = cinlab.save_image(image, tmp_path / "out.png")
    torch.testing.assert_close(cinlab.load_image(path), image)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        cinlab.save_image(image, path)
    cinlab.save_image(1 - image, path, overwrite=True)
    torch.testing.assert_close(cinlab.load_image(path), 1 - image, atol=1 / 255, rtol=0)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"], "no temporary files left behind"


def test_show_images_makes_a_grid():
    import matplotlib

    matplotlib.use("Agg")
    images = [torch.rand(1, 3, 8, 8) for _ in range(7)]
    fig = cinlab.show_images(images, titles=[str(i) for i in range(7)], ncols=4)
    assert len(fig.axes) == 8
    with pytest.raises(ValueError, match="titles"):
        cinlab.show_images(images, titles=["a"])


def test_shuffle_tiles_permutes_blocks():
    image = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) / 384
    shuffled = images.shuffle_tiles(image, tiles=2, seed=1)
    assert shuffled.shape == image.shape
    assert not torch.equal(shuffled, image)
    assert torch.equal(shuffled.flatten().sort().values, image.flatten().sort().values)
    blocks = {tuple(image[0, :, i : i + 4, j : j + 4].flatten().tolist()) for i in (0, 4) for j in (0, 4)}
    moved = {tuple(shuffled[0, :, i : i + 4, j : j + 4].flatten().tolist()) for i in (0, 4) for j in (0, 4)}
    assert blocks == moved  # the same four blocks, in another order


def test_painting_thumbnail_is_a_square_of_a_registry_painting_or_none():
    from cinlab.images import painting_thumbnail

    thumb = painting_thumbnail("starry_night", 24)
    assert thumb.shape == (1, 3, 24, 24) and 0 <= thumb.min() and thumb.max() <= 1
    assert painting_thumbnail("not a painting", 24) is None
    assert painting_thumbnail(3, 24) is None  # a style label, not a name
