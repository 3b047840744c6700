"""The figure-reproduction pipeline, end to end in its fast profile."""

import json



from cinlab.checkpoint import load_model
from cinlab.reproduce import FIG5_STYLES, main


def test_fast_profile_trains_publishes_and_summarises(tmp_path):
    summary = main(["--profile", "fast", "--runs", str(tmp_path / "runs"), "--data", str(tmp_path / "data"), "--quiet"])
    models = tmp_path / "data" / "models"
    assert load_model(models / "impressionist10.pt").num_styles == 10
    assert load_model(models / "varied32.pt").num_styles == 32
    grown = load_model(models / "varied32_plus_van_gogh_cottages.pt")
    assert grown.num_styles == 33 and grown.style_names[-1] == "van_gogh_cottages"
    for style in FIG5_STYLES:
        assert load_model(models / f"single_{style}.pt").style_names == [style]
    results = tmp_path / "data" / "results"
    assert json.loads((results / "summary.json").read_text())["profile"] == "fast"
    assert (results / "finetune_eval.csv").exists() and (results / "impressionist10_train.csv").exists()
    assert all((results / f"{name}.jpg").stat().st_size > 1000 for name in ("fig4", "fig1b", "fig7"))
    assert set(summary["fig5"]["per_style"]) == set(FIG5_STYLES)
    assert len(summary["fig7"]["loss_a"]) == 11
    # A second call finds every run finished and retrains nothing.
    again = main(["--profile", "fast", "--runs", str(tmp_path / "runs"), "--no-publish", "--quiet"])
    assert again["fig5"] == summary["fig5"]
