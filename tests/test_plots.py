"""cinlab.plots helpers that compute something (the figures themselves are looked at, not tested)."""

import pytest
import torch

from cinlab.plots import at_scale


def test_at_scale_centres_a_smaller_image_on_the_fill():
    image = torch.rand(1, 3, 4, 6)
    out = at_scale(image, (8, 10), fill=1.0)
    assert out.shape == (1, 3, 8, 10)
    assert torch.equal(out[..., 2:6, 2:8], image)  # centred, at its own pixel scale
    mask = torch.ones(8, 10, dtype=torch.bool)
    mask[2:6, 2:8] = False
    assert torch.all(out[..., mask] == 1.0)


def test_at_scale_crops_the_centre_of_a_larger_image():
    image = torch.arange(10 * 12, dtype=torch.float32).view(1, 1, 10, 12).expand(1, 3, 10, 12) / 120
    out = at_scale(image, (4, 6))
    assert torch.equal(out, image[..., 3:7, 3:9])


def test_at_scale_mixed_sizes_and_3d_input():
    image = torch.rand(3, 2, 9)  # shorter than the canvas, wider than it
    out = at_scale(image, (4, 5), fill=0.0)
    assert out.shape == (1, 3, 4, 5)
    assert torch.equal(out[0, :, 1:3, :], image[:, :, 2:7])
    assert torch.all(out[0, :, 0] == 0) and torch.all(out[0, :, 3] == 0)
    assert torch.equal(at_scale(image, (2, 9))[0], image)  # same size: unchanged


def test_at_scale_rejects_a_batch():
    with pytest.raises(ValueError):
        at_scale(torch.rand(2, 3, 4, 4), (4, 4))


def _tiny_styled_net(names):
    from cinlab.model import TransformerNet

    torch.manual_seed(0)
    model = TransformerNet(num_styles=len(names), width=0.25, style_names=list(names))
    with torch.no_grad():
        for p in model.style_parameters():
            p.normal_(1.0, 0.3)
    return model


def test_style_map_puts_each_style_at_its_principal_components():
    import matplotlib

    matplotlib.use("Agg")
    from cinlab import embedding
    from cinlab.plots import style_map

    net = _tiny_styled_net(["a", "b", "c", "d"])  # not registry paintings: dots and names
    ax = style_map(net, "gamma")
    coords, share = embedding.pca(embedding.style_vectors(net, "gamma"), 2)
    torch.testing.assert_close(torch.tensor(ax.collections[0].get_offsets(), dtype=torch.float32), coords)
    assert [t.get_text() for t in ax.texts] == ["a", "b", "c", "d"]
    assert f"{100 * float(share[0]):.0f} %" in ax.get_xlabel()
    two = style_map(_tiny_styled_net(["a", "b"]))  # two styles have one component: still a map
    assert len(two.collections[0].get_offsets()) == 2


def test_plot_layer_spread_draws_gamma_and_beta_per_layer():
    import matplotlib

    matplotlib.use("Agg")
    from cinlab import embedding
    from cinlab.plots import plot_layer_spread

    rows = embedding.layer_spread(_tiny_styled_net(["a", "b", "c"]))
    ax = plot_layer_spread(rows)
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx([r["gamma"] for r in rows] + [r["beta"] for r in rows])
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "conv1"


TRICKY = [r"$\frac{$", "$x$ and $", r"price $5\$", "_hidden"]  # invalid formulas, a lone $, a legend-hiding "_"


def _draw(fig):
    fig.canvas.draw()  # mathtext is parsed here: an invalid formula raises
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_names_with_dollars_are_drawn_as_written_in_every_figure():
    import matplotlib

    matplotlib.use("Agg")
    from cinlab import embedding, plots

    net = _tiny_styled_net(TRICKY)
    photo = torch.rand(1, 3, 32, 32)
    _draw(plots.fig4_styles(net, photo))
    _draw(plots.fig7_grid(net, photo, TRICKY, rows=2, cols=2))
    _draw(plots.fig1b_strip(net, photo, TRICKY[0], TRICKY[1], alphas=(0.0, 1.0)))
    ax = plots.style_map(net)
    assert [t.get_text() for t in ax.texts] == [n.replace("$", r"\$") for n in TRICKY]
    _draw(ax.figure)
    _draw(plots.show_images([photo] * 4, TRICKY, suptitle=TRICKY[0]))
    ax = plots.plot_curves({name: [1.0, 0.5] for name in TRICKY}, title=TRICKY[1], xlabel=TRICKY[2])
    assert len(ax.get_legend().get_texts()) == 4  # "_hidden" is in the legend too
    _draw(ax.figure)
    _draw(plots.plot_layer_spread(embedding.layer_spread(net), title=TRICKY[0]).figure)
    # Math notation is still there when asked for.
    fig = plots.show_images([photo], [r"$\alpha = 0.5$"], mathtext=True)
    assert fig.axes[0].get_title() == r"$\alpha = 0.5$"
    _draw(fig)


def test_fig7_never_opens_a_style_name_as_a_file(tmp_path):
    import os
    import threading

    import matplotlib

    matplotlib.use("Agg")
    from cinlab import plots
    from cinlab.images import save_image

    fifo = tmp_path / "a_fifo"
    os.mkfifo(fifo)  # reading it blocks until someone writes: a hang if the name were opened
    picture = tmp_path / "picture.png"
    save_image(torch.rand(1, 3, 20, 20), picture)
    names = [str(fifo), str(picture), "c", "d"]
    net = _tiny_styled_net(names)
    result = {}
    worker = threading.Thread(
        target=lambda: result.setdefault("fig", plots.fig7_grid(net, torch.rand(1, 3, 32, 32), names, 2, 2)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():  # release the blocked reader before failing
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(timeout=30)
        pytest.fail("fig7_grid opened a style name (a FIFO) as a file and hung")
    corners = [ax for ax in result["fig"].axes if ax.get_title()]
    assert [ax.get_title() for ax in corners] == names and not any(ax.images for ax in corners)


def _label_boxes(ax):
    from matplotlib.text import Text

    renderer = ax.figure.canvas.get_renderer()
    return [Text.get_window_extent(t, renderer) for t in ax.texts]


def test_style_map_labels_do_not_overlap_in_a_dense_cloud():
    """Twenty styles, most of them nearly one point: every label still has a place of its own, inside the axes."""
    import itertools

    import matplotlib

    matplotlib.use("Agg")
    from cinlab.plots import style_map

    names = [f"style_with_a_long_name_{i}" for i in range(20)]
    net = _tiny_styled_net(names)
    with torch.no_grad():
        for table in net.style_parameters():
            table[1:18] = table[1] + 1e-3 * torch.randn_like(table[1:18])  # 17 styles in one tight cluster
    ax = style_map(net)
    boxes = _label_boxes(ax)
    assert [t.get_text() for t in ax.texts] == names
    clashes = [
        (names[i], names[j]) for i, j in itertools.combinations(range(len(boxes)), 2) if boxes[i].overlaps(boxes[j])
    ]
    assert not clashes
    frame = ax.get_window_extent(ax.figure.canvas.get_renderer())
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    assert any(t.arrow_patch is not None for t in ax.texts)  # labels moved away from the cluster point at it


def test_place_labels_keeps_a_label_next_to_its_point_when_there_is_room():
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    from cinlab.plots import place_labels

    _, ax = plt.subplots(figsize=(4, 3))
    ax.scatter([0.0, 1.0], [0.0, 1.0])
    ax.margins(0.3)
    texts = place_labels(ax, [(0.0, 0.0), (1.0, 1.0)], ["a", "b"], clearance=4.0)
    assert all(t.arrow_patch is None for t in texts)  # first ring: no line needed
    for text, point in zip(texts, [(0.0, 0.0), (1.0, 1.0)]):
        box = _label_boxes(ax)[texts.index(text)]
        px, py = ax.transData.transform(point)
        assert abs((box.x0 + box.x1) / 2 - px) < 2 and box.y1 < py  # centred, just below its point


def test_style_map_can_leave_out_the_inert_numbers():
    import matplotlib

    matplotlib.use("Agg")
    from cinlab import embedding
    from cinlab.plots import style_map

    net = _tiny_styled_net(["a", "b", "c", "d"])
    ax = style_map(net, drop_inert=True)
    coords, _ = embedding.pca(embedding.style_vectors(net, drop_inert=True), 2)
    torch.testing.assert_close(torch.tensor(ax.collections[0].get_offsets(), dtype=torch.float32), coords)
    assert "inert" in ax.get_title()


def test_plot_layer_spread_draws_the_noise_floor():
    import matplotlib

    matplotlib.use("Agg")
    from cinlab import embedding
    from cinlab.plots import plot_layer_spread

    net = _tiny_styled_net(["a", "b", "c"])
    floor = embedding.noise_floor(net)
    ax = plot_layer_spread(embedding.layer_spread(net), floor=floor)
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [floor, floor]
    assert any("noise floor" in t.get_text() for t in ax.get_legend().get_texts())
    assert not plot_layer_spread(embedding.layer_spread(net)).get_lines()


def test_show_images_keeps_square_panels_full_size_beside_a_landscape_image():
    """A row's height fits its tallest image: a square texture next to a wide painting is not squeezed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cinlab import plots

    wide, square = torch.rand(1, 3, 100, 160), torch.rand(1, 3, 256, 256)
    fig = plots.show_images([wide, square, square], ["painting", "a", "b"], ncols=3, size=3.6)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes[1:]:
        box = ax.images[0].get_window_extent(renderer)
        assert min(box.width, box.height) >= 0.9 * 3.6 * fig.dpi, (box.width, box.height, fig.dpi)
    painting = fig.axes[0].images[0].get_window_extent(renderer)
    assert painting.width / painting.height == pytest.approx(160 / 100, rel=0.02)
    plt.close(fig)
