"""`photoedit report`: Table 1 numbers against hand-computed LAB means, figures that exist and are
not blank, proposal grids with their ΔE labels, personalisation present / missing, provenance
counts, HTML escaping of data strings, and graceful degradation when stages have not run."""
from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from PIL import Image

from pipelines.core.lab_summary import summarise as lab_summary
from pipelines.core.lab_summary import summarise_by_proposals
from pipelines.core.layout import DatasetLayout
from pipelines.core.parquet_io import read_table, write_table
from pipelines.core.schemas import (
    ERRORS,
    EVALUATION,
    PHOTOS,
    PREDICTIONS,
    SLIDER_KEYS,
    features_schema,
)
from pipelines.core.schemas import NO_ADJUSTMENT as REFERENCE_MODEL
from pipelines.report.build import ReportConfig, build_report, run
from pipelines.report.document import Section, Table, to_html, to_markdown
from pipelines.report.figures import slider_histograms
from pipelines.report.inputs import load_inputs
from pipelines.report.sections import personalisation_section
from pipelines.report.tables import cross_check
from rendering.sliders import PROCESS_2003
from tests.pipelines.dataset_factory import make_dataset

EXPERTS = ("<script>", "A", "B")          # a hostile expert name must come out escaped
TEST_PHOTOS = ("a0001", "a0002", "a0003")  # a0002's raw file is missing: the grid skips it
# lab errors per model -> photo -> per-expert values (in EXPERTS order); per-photo means by hand
LAB = {
    "mlp": {"a0001": [1.0, 2.0, 3.0], "a0002": [4.0, 5.0, 6.0], "a0003": [2.0, 2.0, 2.0]},    # 2, 5, 2
    "pvae": {"a0001": [2.0, 2.0, 2.0], "a0002": [3.0, 3.0, 3.0], "a0003": [7.0, 7.0, 7.0]},   # 2, 3, 7
    REFERENCE_MODEL: {p: [10.0 + i] * 3 for i, p in enumerate(TEST_PHOTOS)},                   # 10, 11, 12
}
# mean ± s.e. over photos: mlp 3 ± sqrt(3)/sqrt(3); pvae 4 ± sqrt(7/3); no_adjustment 11 ± 1/sqrt(3)
EXPECTED_LAB = {"mlp": "3.00 ± 1.00", "pvae": "4.00 ± 1.53", REFERENCE_MODEL: "11.00 ± 0.58"}
PROPOSALS = 4
FEW = 3
FLOOR = "feature_blind_floor"
# the floor's rows in the paper's pool (per photo 7, 8, 9) and every model's rows with P = FEW proposals
LAB_FLOOR = {p: [7.0 + i] * 3 for i, p in enumerate(TEST_PHOTOS)}                                # 8 ± 0.58
LAB_FEW = {
    "mlp": {"a0001": [4.0] * 3, "a0002": [6.0] * 3, "a0003": [5.0] * 3},                          # 5 ± 0.58
    "pvae": {"a0001": [3.0] * 3, "a0002": [3.0] * 3, "a0003": [6.0] * 3},                         # 4 ± 1.00
    FLOOR: {p: [9.0 + i] * 3 for i, p in enumerate(TEST_PHOTOS)},                                 # 10 ± 0.58
}


def _sliders(rng: np.random.Generator, n: int) -> list[dict[str, float]]:
    values = PROCESS_2003.from_model(rng.uniform(-0.5, 0.5, size=(n, len(SLIDER_KEYS))))
    return [dict(zip(SLIDER_KEYS, map(float, row))) for row in values]


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def _config(model: str, cls: str, kwargs: dict) -> dict:
    return {"model": model, "model_class": cls, "kwargs": {"feature_dim": 16, **kwargs}, "feature_dim": 16,
            "train": {"epochs": 7, "batch_size": 32, "lr": 0.001, "patience": 3, "seed": 5, "device": "cpu"},
            "slider_process": "2003"}


def _summary_row(model: str, ll: float, ll_se: float, jsd: float, jsd_se: float, seeds: int = 1,
                 sd: float | None = None) -> dict:
    """One models/summary.json row as evaluate-models writes it (modeling.comparison.compare)."""
    spread = {"seeds": seeds, "ll_seed_sd": sd, "jsd_seed_sd": None if sd is None else sd / 10,
              "slider_error_seed_sd": None if sd is None else sd / 5}
    return {"model": model, **spread, "ll": ll, "ll_se": ll_se, "ll_photos": 3, "ll_edits": 9, "ll_per_edit_mean": ll,
            "ll_minus_floor": ll + 3.0, "ll_minus_floor_se": 0.2, "slider_error": 0.25, "slider_error_se": 0.02,
            "ll_num_samples": 50, "ll_units": "nats per edit, model space [-1, 1]^11", "jsd": jsd,
            "jsd_se": jsd_se, "jsd_per_slider": [jsd] * 11, "jsd_bins": 20, "jsd_log_base": 2.0,
            "jsd_bootstrap": 20, "jsd_per_image": 0.5, "jsd_per_image_se": 0.01, "jsd_per_image_samples": 20,
            "jsd_per_image_bins": 5, "jsd_images": 3}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> DatasetLayout:
    """6 photos (3 test, 1 validation, 2 train), 3 experts, hand-written later-stage outputs."""
    root = tmp_path_factory.mktemp("report_ds")
    layout = make_dataset(root, num_photos=6, raw_size=48, experts=EXPERTS, missing=("a0002",))
    photos = read_table(layout.photos).to_pylist()
    for row in photos:
        row["split"] = "test" if row["photo_id"] in TEST_PHOTOS else (
            "validation" if row["photo_id"] == "a0004" else "train")
    write_table(pa.Table.from_pylist(photos, schema=PHOTOS), layout.photos)
    rng = np.random.default_rng(3)
    evaluation = []
    pools = [(PROPOSALS, {**LAB, FLOOR: LAB_FLOOR}), (FEW, LAB_FEW)]
    for pool, lab_of in pools:
        for model, per_photo in lab_of.items():
            for photo_id, values in per_photo.items():
                for i, (expert, lab) in enumerate(zip(EXPERTS, values)):
                    evaluation.append({"photo_id": photo_id, "model": model, "expert": expert,
                                       "proposals": 0 if model == REFERENCE_MODEL else pool,
                                       "proposal": -1 if model == REFERENCE_MODEL else i, "lab_error": lab,
                                       "lab_rms": 1.5 * lab, "reference": "renderer", "size": 48,
                                       **_sliders(rng, 1)[0]})
    write_table(pa.Table.from_pylist(evaluation, schema=EVALUATION), layout.evaluation)
    predictions = [{"photo_id": p, "model": m, "proposal": k, "cluster": k % 2, **s}
                   for m in ("mlp", "pvae") for p in TEST_PHOTOS
                   for k, s in enumerate(_sliders(rng, PROPOSALS))]
    write_table(pa.Table.from_pylist(predictions, schema=PREDICTIONS), layout.predictions)
    reference = {"lab_mean": 11.0, "lab_se": 1 / math.sqrt(3), "lab_rms_mean": 16.5, "photos": 3}
    protocol = {"mlp": {"lab_mean": 3.0, "lab_se": 1.0, "lab_rms_mean": 4.5, "photos": 3},
                "pvae": {"lab_mean": 4.0, "lab_se": math.sqrt(7 / 3), "lab_rms_mean": 6.0, "photos": 3},
                FLOOR: {"lab_mean": 8.0, "lab_se": 1 / math.sqrt(3), "lab_rms_mean": 12.0, "photos": 3},
                REFERENCE_MODEL: reference}
    few = {"mlp": {"lab_mean": 5.0, "lab_se": 1 / math.sqrt(3), "lab_rms_mean": 7.5, "photos": 3},
           "pvae": {"lab_mean": 4.0, "lab_se": 1.0, "lab_rms_mean": 6.0, "photos": 3},
           FLOOR: {"lab_mean": 10.0, "lab_se": 1 / math.sqrt(3), "lab_rms_mean": 15.0, "photos": 3},
           REFERENCE_MODEL: reference}
    _write_json(root / "evaluation" / "_summary.json", {
        "models": protocol, "by_proposals": {str(PROPOSALS): protocol, str(FEW): few},
        "experts": list(EXPERTS), "proposals": PROPOSALS, "few_proposals": FEW, "size": 48, "reference": "renderer",
        "split": "test", "seed": 0})
    _write_json(root / "models" / "summary.json", {
        "models": [_summary_row("mlp", 1.2345, 0.1111, 0.12345, 0.01234, seeds=3, sd=0.05),
                   _summary_row("mdn", 2.5, 0.25, 0.2, 0.02),
                   _summary_row("pvae", 3.0, 0.5, 0.05, 0.005)],
        "floor": {**_summary_row("feature_blind_floor", -3.0, 0.3, 0.4, 0.04), "ll_num_samples": 1},
        "best": [{"metric": "ll", "best": "pvae", "line": "ll: best pvae: pvae (3.0000) leads mdn by +0.5000 ± "
                                                          "0.2000 (seed spread unknown (one seed)), more than 2 s.e."}],
        "is_samples": 50, "jsd_bins": 20, "jsd_log_base": 2, "split": "test", "edits": 9})
    for name, cls, kwargs in (("mlp", "GaussianMLP", {"hidden": 8, "layers": 1}),
                              ("pvae", "PVAE", {"hidden": 8, "layers": 1, "latent_dim": 2, "num_clusters": 3}),
                              ("cgmvae", "CGMVAE", {"hidden": 8, "layers": 1, "latent_dim": 2, "num_clusters": 4})):
        _write_json(root / "models" / name / "config.json", _config(name, cls, kwargs))
        _write_json(root / "models" / name / "metrics.json", {"best_epoch": 4, "epochs_run": 7})
    # cgmvae is not in models/summary.json: its row comes from metrics.json
    _write_json(root / "models" / "cgmvae" / "metrics.json", {
        "best_epoch": 4, "epochs_run": 7, "test_ll": -0.75, "test_ll_se": 0.125, "test_jsd": 0.3,
        "test_jsd_se": 0.03, "test_ll_num_samples": 50, "test_jsd_bins": 20})
    history = list(range(6))
    ll = [-2.0, -1.8, -1.6, -1.5, -1.45, -1.4]
    exact = [-2.0, -1.5, -1.3, -1.2, -1.2, -1.2]
    blocks = {kind: {"ll": v, "ll_se": [0.1] * 6, "gain": [x - v[0] for x in v], "gain_se": [0.05] * 6,
                     "max_posterior": [0.4, 0.6, 0.7, 0.8, 0.9, 0.95]} for kind, v in (("amortised", ll), ("sampled", exact))}
    _write_json(root / "models" / "pvae" / "personalisation.json", {
        "users": 4, "held_out": 20, "num_samples": 50, "history": history, **blocks, "ll": ll, "ll_se": [0.1] * 6,
        "normalised": blocks["amortised"]["gain"], "users_at_k": [4] * 6, "definition": "LL_k - LL_0"})
    write_table(pa.Table.from_pylist(
        [{"image_id": f"a000{i}_v0", "photo_id": f"a000{i}", "variant": 0, "fc7": [0.0] * 16} for i in range(1, 8)],
        schema=features_schema(16)), layout.features)
    write_table(pa.Table.from_pylist([{"id": "a0002", "stage": "augment", "reason": "PhotoDecodeError: x", "uri": None},
                                      {"id": "a0005", "stage": "augment", "reason": "SliderError: y", "uri": None}],
                                     schema=ERRORS), layout.errors("augment"))
    _write_json(root / "_stages" / "augment.json", {"config": {"size": 48, "seed": 0}, "seconds": 12.5})
    return layout


@pytest.fixture(scope="module")
def built(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("report_out")
    result = build_report(ReportConfig(dataset=dataset.root, out=str(out), grid_photos=2, size=48), str(out))
    return out, result, (out / "index.html").read_text(), (out / "report.md").read_text()


def _row(markdown: str, first_cell: str) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith(f"| {first_cell} |")]
    assert rows, f"no table row for {first_cell}"
    return rows[0]


def test_lab_summary_is_mean_over_experts_then_mean_and_se_over_photos(dataset):
    lab = lab_summary(read_table(dataset.evaluation), PROPOSALS)
    assert lab["mlp"]["lab_mean"] == pytest.approx(3.0) and lab["mlp"]["lab_se"] == pytest.approx(1.0)
    assert lab["pvae"]["lab_se"] == pytest.approx(math.sqrt(7 / 3))
    assert lab[REFERENCE_MODEL]["lab_rms_mean"] == pytest.approx(16.5)
    assert {v["photos"] for v in lab.values()} == {3}
    by_pool = summarise_by_proposals(read_table(dataset.evaluation))
    assert list(by_pool) == [PROPOSALS, FEW]
    assert by_pool[FEW]["mlp"]["lab_mean"] == pytest.approx(5.0) and by_pool[FEW][FLOOR]["lab_mean"] == pytest.approx(10)
    assert by_pool[FEW][REFERENCE_MODEL] == by_pool[PROPOSALS][REFERENCE_MODEL]   # no_adjustment is in every pool
    legacy = read_table(dataset.evaluation).drop(["proposals"])                   # rows before the column: one pool
    assert summarise_by_proposals(legacy) == {} and lab_summary(legacy, PROPOSALS)["mlp"]["photos"] == 3


def test_cross_check_flags_a_summary_that_disagrees(dataset):
    rows = read_table(dataset.evaluation)
    lab, by_pool = lab_summary(rows, PROPOSALS), summarise_by_proposals(rows)
    good = json.loads(Path(dataset.root, "evaluation", "_summary.json").read_text())
    assert cross_check(lab, good, by_proposals=by_pool) == []
    good["models"]["mlp"]["lab_mean"] = 3.5
    problems = cross_check(lab, good)
    assert len(problems) == 1 and "mlp lab_mean" in problems[0]
    good["by_proposals"][str(FEW)][FLOOR]["lab_se"] = 0.1
    problems = cross_check(lab, good, by_proposals=by_pool)
    assert any(f"(P = {FEW})" in p and "feature_blind_floor lab_se" in p for p in problems)


def test_table_one_has_every_model_and_hand_computed_numbers(built):
    _, _, page, markdown = built
    for model, lab in EXPECTED_LAB.items():
        assert lab in _row(markdown, model)
        assert lab in page
    # mean ± s.d. over training seeds, then the s.e. over photos
    assert "| mlp | 3 | 1.234 ± 0.050 | 0.111 |" in _row(markdown, "mlp")
    assert "| 0.1235 ± 0.0050 | 0.0123 |" in _row(markdown, "mlp")
    assert "4.50" in _row(markdown, "mlp")                          # ΔE RMS
    assert "| cgmvae | 1 | -0.750 | 0.125 |" in _row(markdown, "cgmvae")   # from metrics.json: one seed
    assert "| mdn | 1 | 2.500 | 0.250 |" in _row(markdown, "mdn") and "—" in _row(markdown, "mdn")   # no LAB rows
    assert "not trained" in _row(markdown, "lbn")
    assert "agree with evaluation/_summary.json" in markdown
    assert "S = 50 samples" in markdown and "20 bins per slider centred" in markdown and "48 px" in markdown
    # the feature-blind floor row, each model's paired gap to it, slider error, the best-model lines
    assert "| -3.000 | 0.300 |" in _row(markdown, "feature_blind_floor")
    assert "8.00 ± 0.58" in _row(markdown, "feature_blind_floor")   # its proposals' LAB error, P = 4
    assert "+4.234 ± 0.200" in _row(markdown, "mlp") and "| 0.2500 ± 0.0100 | 0.0200 |" in _row(markdown, "mlp")
    assert "Best: ll: best pvae: pvae (3.0000) leads mdn by +0.5000" in markdown
    # diffs 0, 2, -5: a lead of 1 ± 2.08 is no clear best
    assert ("Best: LAB ΔE76: no clear best: mlp (3.00) leads pvae by -1.00 ± 2.08 (paired s.e. over photos, one "
            "training seed), not more than 2 s.e.") in markdown
    assert "called best on a metric only when its paired lead over the runner-up exceeds 2 s.e." in markdown
    assert "| model | Temperature | Tint | Exposure |" in markdown                      # per-slider JSD table
    assert "| mlp | 0.123 | 0.123 | 0.123 |" in markdown and "| feature_blind_floor | 0.400 |" in markdown
    assert "photoedit train --dataset" in markdown                   # lbn is missing: the command is named


def test_lab_table_has_both_pools_and_the_floor_row(built):
    _, _, page, markdown = built
    assert f"| model | LAB ΔE76, P = {PROPOSALS} (paper) | LAB ΔE76, P = {FEW} | photos |" in markdown
    for row in ("| mlp | 3.00 ± 1.00 | 5.00 ± 0.58 | 3 |", "| pvae | 4.00 ± 1.53 | 4.00 ± 1.00 | 3 |",
                "| feature_blind_floor | 8.00 ± 0.58 | 10.00 ± 0.58 | 3 |",
                f"| {REFERENCE_MODEL} | 11.00 ± 0.58 | 11.00 ± 0.58 | 3 |"):
        assert row in markdown, row
    assert "| mdn | — | — |" not in markdown                          # a model without LAB rows is left out
    assert f"LAB table: the same protocol with P = {FEW}" in markdown and "5.00 ± 0.58" in page


def test_every_referenced_figure_is_a_real_png(built):
    out, result, page, markdown = built
    html_refs = re.findall(r'<img src="([^"]+)"', page)
    md_refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert sorted(html_refs) == sorted(md_refs)
    assert len(html_refs) == 2 + 2 + 1 == len(result.figures)     # 2 histograms, 2 grids, personalisation
    for ref in html_refs:
        with Image.open(out / ref) as im:
            assert im.format == "PNG" and im.width > 200 and im.height > 150
            assert np.asarray(im.convert("RGB"), dtype=np.float64).std() > 5.0


def test_histogram_figures_have_eleven_panels(built):
    _, result, _, markdown = built
    hists = [f for f in result.figures if "sliders_" in f.path]
    assert sorted(Path(f.path).name for f in hists) == ["sliders_mlp.png", "sliders_pvae.png"]
    assert all(f.panels == 11 and len(f.labels) == 11 for f in hists)
    assert hists[0].labels[0].startswith("Temperature (JSD ")
    assert f"| mlp | {len(TEST_PHOTOS) * PROPOSALS} |" in markdown


def test_slider_histograms_bin_and_normalise_per_slider():
    true = np.zeros((4, 11))
    true[:, 1] = [-1.0, -0.95, 0.99, 5.0]                          # 5.0 is clipped into the last bin
    sampled = np.full((2, 11), 0.51)
    h = slider_histograms(true, sampled, bins=4)
    assert h.true.shape == h.sampled.shape == (11, 4)
    np.testing.assert_allclose(h.true.sum(axis=1), 1.0)
    np.testing.assert_allclose(h.true[0], [0, 0, 1, 0])           # 0.0 falls in [0, 0.5)
    np.testing.assert_allclose(h.true[1], [0.5, 0, 0, 0.5])
    np.testing.assert_allclose(h.sampled[5], [0, 0, 0, 1])
    assert (h.true_count, h.sampled_count) == (4, 2)


def test_proposal_grid_shows_the_first_renderable_test_photos_with_delta_e(built):
    _, result, _, markdown = built
    grids = [f for f in result.figures if "grid_" in f.path]
    assert [Path(f.path).name for f in grids] == ["grid_a0001.png", "grid_a0003.png"]
    assert "Skipped: a0002" in markdown                              # its raw file is missing
    assert "Photos: a0001, a0003 (the first test-split photo ids" in markdown
    first = grids[0]
    assert first.panels == 1 + 3 + 3 * 3                    # input, 3 experts, (2 models + floor) x 3 experts
    assert "#1 → A\nΔE 2.00" in first.labels and "#2 → B\nΔE 3.00" in first.labels
    assert not any("ΔE 4.00" in label for label in first.labels)  # the paper's pool only, not P = 3's rows
    assert any("input ΔE 10.00" in label for label in first.labels)
    assert "| a0003: ΔE76 |" in markdown
    assert "| pvae | 7.00 | 7.00 | 7.00 |" in markdown


def test_personalisation_section_present_and_missing(built, dataset, tmp_path):
    _, _, page, markdown = built
    assert "## P-VAE personalisation" in markdown and "figures/personalisation.png" in markdown
    assert "| 5 | -1.400 | -1.200 | +0.600 ± 0.050 | +0.800 ± 0.050 | 0.95 | 0.95 | 4 |" in markdown
    inputs = dataclasses.replace(load_inputs(dataset), layout=DatasetLayout(str(tmp_path)), folders={})
    section, infos = personalisation_section(inputs, str(tmp_path))
    assert infos == [] and section.figures == []
    assert section.paragraphs[0].startswith("Missing: no models/pvae/personalisation.json")


def test_inputs_read_each_models_lowest_training_seed(dataset, tmp_path):
    """models/<name>/seed-<s>/ folders: config, metrics and the P-VAE curve come from the lowest seed."""
    import shutil

    root = tmp_path / "seeded"
    shutil.copytree(dataset.root, root)
    pvae = root / "models" / "pvae"
    (pvae / "seed-2").mkdir()
    for f in ("config.json", "metrics.json", "personalisation.json"):
        (pvae / f).rename(pvae / "seed-2" / f)
    _write_json(pvae / "seed-7" / "config.json", {**_config("pvae", "PVAE", {}), "train": {"seed": 7}})
    inputs = load_inputs(DatasetLayout(str(root)))
    assert inputs.seeds["pvae"] == [2, 7] and inputs.folders["pvae"].endswith("seed-2")
    assert inputs.configs["pvae"]["train"]["seed"] == 5 and inputs.seeds["mlp"] == [None]
    section, infos = personalisation_section(inputs, str(tmp_path))
    assert len(infos) == 1 and section.figures
    from pipelines.report.tables import seeds_text
    assert seeds_text(inputs.seeds["pvae"], 2) == "2, 7" and seeds_text(inputs.seeds["mlp"], 5) == "5"


def test_inputs_keep_the_evaluated_splits_edits_and_count_every_edit(dataset):
    """Only the test photos' edits are held (the sections show no other), the counts are of all 18."""
    from pipelines.report.inputs import data_counts, split_photo_ids

    inputs = load_inputs(dataset)
    test = set(split_photo_ids(inputs.photos, "test"))
    assert set(inputs.edits.column("photo_id").to_pylist()) == test and inputs.edits.num_rows < 18
    counts = data_counts(inputs)
    assert counts["edits"] == 18 and sum(counts["edits_per_kind"].values()) == 18
    assert inputs.predictions.column_names == ["model", *SLIDER_KEYS]


def test_provenance_counts_configs_markers_and_settings(built, dataset):
    _, _, _, markdown = built
    assert "| photos per split | test: 3, train: 2, validation: 1 |" in markdown
    assert "| edits | 18 |" in markdown and "| features | 7 |" in markdown
    assert "| variants | missing |" in markdown
    assert "| evaluation | 63 |" in markdown and "| predictions | 24 |" in markdown
    assert "| error rows per stage | augment: 2 |" in markdown
    assert f"| dataset root | {dataset.root} |" in markdown
    row = _row(markdown, "cgmvae")                                     # first cgmvae row is Table 1's
    cfg = [line for line in markdown.splitlines() if line.startswith("| cgmvae | CGMVAE |")]
    assert cfg and "num_clusters: 4" in cfg[0] and "epochs: 7" in cfg[0] and cfg[0].endswith("| 5 |")
    assert row != cfg[0]
    assert "| augment | 12.5 |" in markdown
    assert "| proposals | 4 |" in markdown and "| reference | renderer |" in markdown
    assert "photoedit version" in markdown and "UTC" in markdown


def test_data_strings_are_escaped(built):
    _, _, page, markdown = built
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<script>" not in markdown
    page = to_html("t", [Section("s", ["a & <b>"], [Table(["h|x"], [["<i>"]])], [("figures/x.png", 'say "hi"')])])
    assert "a &amp; &lt;b&gt;" in page and "<td>&lt;i&gt;</td>" in page and 'alt="say &quot;hi&quot;"' in page
    assert "| h\\|x |" in to_markdown("t", [Section("s", tables=[Table(["h|x"], [["1"]])])])


def test_run_degrades_without_later_stages_and_fails_without_photos(tmp_path, caplog):
    layout = make_dataset(tmp_path / "ds", num_photos=2, raw_size=32)
    assert run(["--dataset", layout.root, "--runner", "FnApiRunner"]) == 0
    markdown = (tmp_path / "ds" / "report" / "report.md").read_text()
    assert "Missing LAB error: no evaluation/ rows; run `photoedit evaluate --dataset" in markdown
    assert "Missing: no predictions/" in markdown
    assert "Missing: no models/pvae/personalisation.json" in markdown
    assert _row(markdown, "pvae").startswith("| pvae | not trained |")
    assert "| photos per split | train: 2 |" in markdown
    assert (tmp_path / "ds" / "report" / "index.html").is_file()
    assert any("no evaluation rows" in r.getMessage() for r in caplog.records)
    (tmp_path / "empty").mkdir()
    assert run(["--dataset", str(tmp_path / "empty")]) == 2


def test_grid_rows_show_experts_only_not_casual_users(dataset):
    """A user's edit of a grid photo is not drawn as an 'expert' rendition."""
    from pipelines.core.schemas import EDITS
    from pipelines.report.sections import plan_grid
    edits = read_table(DatasetLayout(dataset.root).edits)
    user = {**edits.slice(0, 1).to_pylist()[0], "editor": "u001", "editor_kind": "user"}
    with_user = pa.concat_tables([edits, pa.Table.from_pylist([user], schema=EDITS)])
    plan = plan_grid(user["photo_id"], (5000.0, 0.0), with_user, None)
    experts = sorted(set(edits.filter(pc.equal(edits.column("photo_id"), user["photo_id"])).column("editor").to_pylist()))
    assert len(plan.cells[0]) == 1 + len(experts)
    assert not any("u001" in label for label in plan.labels[0])


def test_report_says_what_a_generated_sample_is_and_is_not(tmp_path):
    from pipelines.fivek.sample.generator import CAMERA_MAKE
    from pipelines.report.tables import SAMPLE_NOTE, about_the_data

    layout = make_dataset(tmp_path / "real", num_photos=2)
    real = load_inputs(layout)
    assert about_the_data(real) == "About the data: 2 photos, cameras by Test."
    photos = real.photos.set_column(real.photos.schema.get_field_index("camera_make"), "camera_make",
                                    pa.array([CAMERA_MAKE] * 2))
    assert about_the_data(dataclasses.replace(real, photos=photos)) == SAMPLE_NOTE
    assert "not MIT-Adobe FiveK" in SAMPLE_NOTE and "10.2" in SAMPLE_NOTE


def test_histogram_jsd_uses_evaluate_models_centred_bins(built, dataset):
    """The report's per-model JSD is modeling.metrics.slider_jsd: 21 bins, one centred on each slider's neutral."""
    from modeling.metrics import DEFAULT_BINS, slider_jsd
    from pipelines.report.sections import held_out_slider_matrix, proposal_slider_matrices
    _, _, _, markdown = built
    inputs = load_inputs(dataset)
    true = held_out_slider_matrix(inputs.photos, inputs.edits, inputs.split)
    for model, sampled in proposal_slider_matrices(inputs.predictions).items():
        expected = float(np.nanmean(slider_jsd(true, sampled, bins=DEFAULT_BINS)))
        rows = [line for line in markdown.splitlines() if line.startswith(f"| {model} |") and line.count("|") == 4]
        assert rows == [f"| {model} | {len(sampled)} | {expected:.4f} |"], (model, expected, rows)
    assert f"{DEFAULT_BINS} bins" in markdown and DEFAULT_BINS % 2 == 1
