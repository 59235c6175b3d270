import json

from blasr.profile import main


def test_profile_prints_table3_and_writes_json(tmp_path, capsys):
    out = tmp_path / "costs.json"
    assert main(["--arch", "*resnet22_a2b3", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| bl_resnet22_a2b3 | 30,729,568 | 3.07 | 0.77 |" in printed
    rows = json.loads(out.read_text())["speech"]
    assert [r["arch"] for r in rows] == ["bl_resnet22_a2b3"]
    assert rows[0]["params"] == 30_729_568 and (rows[0]["left_context"], rows[0]["right_context"]) == (24, 24)


def test_profile_width_and_listing(capsys):
    assert main(["--arch", "resnet22", "--width", "0.25", "--num-classes", "100"]) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith("| resnet22 |") and "1.00x" in row
    assert main(["--list", "--arch", "bl_*"]) == 0
    assert capsys.readouterr().out.split() == [
        "bl_resnet22_a4b1", "bl_resnet22_a4b2", "bl_resnet22_a4b3",
        "bl_resnet22_a2b3", "bl_resnet22_a4b1_cat", "bl_pyr_resnet22_a4b1",
    ]


def test_profile_image_domain(tmp_path, capsys):
    out = tmp_path / "costs.json"
    assert main(["--domain", "image", "--arch", "bl_resnet50_a2b4", "--json", str(out)]) == 0
    assert "| bl_resnet50_a2b4 | 26,694,568 | 26.69 | 2.85 | 3.73 |" in capsys.readouterr().out
    rows = json.loads(out.read_text())["image"]
    assert rows[0]["params"] == 26_694_568


def test_profile_unknown_pattern_fails():
    import pytest

    with pytest.raises(SystemExit):
        main(["--arch", "nothing*"])
