"""The region lists of infra/ and local.settings.sample.json are rendered from checks/engine/regions.py
(devtools/regions.py), never copied by hand: this fails when one drifts from the code."""
from __future__ import annotations

import json

import pytest

from checks.engine.config import Settings
from checks.engine.regions import EEA_REGIONS, REGIONS
from devtools import regions as render
from test_infra import app_settings, parse

EEA_PAIRED = [r for r in EEA_REGIONS if REGIONS[r].pair]


def test_no_file_drifts_from_the_region_table():
    assert render.drifted() == [], "run: python -m devtools.regions --write"


def test_main_bicep_allows_exactly_the_eea_regions_and_knows_the_paired_ones():
    main = parse("main.bicep")
    decorators = {d["type"]: d["argument"] for d in main["parameters"]["location"]["decorators"]}
    assert decorators["allowed"] == list(EEA_REGIONS)
    assert decorators["metadata"] == {"azd": {"type": "location"}}  # azd still asks for a location
    assert main["variables"]["geoPairedRegions"]["value"] == EEA_PAIRED
    assert not set(EEA_PAIRED) & {"italynorth", "polandcentral", "spaincentral", "austriaeast", "denmarkeast"}


def test_app_setting_and_sample_default_are_the_code_default():
    default = ",".join(Settings.from_env({}).allowed_backup_regions)
    assert app_settings()["ALLOWED_BACKUP_REGIONS"] == default
    sample = json.loads((render.ROOT / "local.settings.sample.json").read_text())["Values"]
    assert sample["ALLOWED_BACKUP_REGIONS"] == default


@pytest.mark.parametrize("path,renderer,edit", [
    (render.FUNCTIONAPP, render.render_functionapp, lambda t: t.replace("denmarkeast,", "", 1)),
    (render.SAMPLE, render.render_sample, lambda t: t.replace(",westeurope\"", "\"", 1)),
    (render.MAIN, render.render_main, lambda t: t.replace("  'italynorth'\n", "", 1)),
])
def test_a_hand_edit_is_detected_and_rewritten(path, renderer, edit):
    current = path.read_text()
    edited = edit(current)
    assert edited != current  # the edit touched the list
    assert renderer(edited) == current  # the renderer puts the code's list back (what --write does)


def test_devtools_command_reports_drift_without_writing(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "functionapp.bicep"
    copy.write_text(render.FUNCTIONAPP.read_text().replace("denmarkeast,", "", 1))
    monkeypatch.setattr(render, "RENDERERS", ((copy, render.render_functionapp),))
    monkeypatch.setattr(render, "ROOT", tmp_path)
    assert render.main([]) == 1 and "functionapp.bicep: region list differs" in capsys.readouterr().out
    assert "denmarkeast" not in copy.read_text()  # checking never writes
    assert render.main(["--write"]) == 0 and render.main([]) == 0 and "denmarkeast" in copy.read_text()
    assert render.main(["--bogus"]) == 2
