import json

import pytest


def test_smoke_run_writes_positive_numbers(speech_speed, keep_threads, tmp_path, capsys):
    out = tmp_path / "speed.json"
    archs = ["resnet22", "bl_resnet22_a2b3"]
    assert speech_speed.main(["--quick", "--threads", "1", "--archs", *archs, "--profile", "bl_resnet22_a2b3",
                              "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"command", "machine", "load_before", "load_after", "settings", "reference", "results", "speedups",
            "dense_vs_window", "targets", "profile", "gpu"} <= set(report)
    assert report["machine"]["torch_threads"] == 1 and report["machine"]["cpu"]
    assert report["settings"]["width"] == 0.25
    for name in ("fp32", "fp32-cl", "bf16-cl"):
        assert report["reference"][name]["gflops_per_s"] > 0

    results = report["results"]
    variants = ["fp32", "fp32-opt", "bf16-opt"]
    assert {(r["arch"], r["mode"], r["variant"]) for r in results} == {
        (a, m, v) for a in archs for m in ("dense", "window", "train_chunk", "train_window") for v in variants}
    for r in results:
        assert len(r["seconds"]) == (1 if r["mode"].startswith("train") else 2)
        assert min(r["seconds"]) > 0 and r["frames_per_s"] > 0 and r["gflops_per_s"] > 0 and r["macs"] > 0
    dense = {(r["arch"], r["variant"]): r for r in results if r["mode"] == "dense"}
    assert dense["resnet22", "fp32"]["target_frames"] == 40
    # the folded channels-last copy computes the same logits; bf16 only approximately
    assert dense["bl_resnet22_a2b3", "fp32-opt"]["max_abs_diff"] < 1e-3
    assert dense["bl_resnet22_a2b3", "fp32"]["max_abs_diff"] is None

    speedups = {(s["arch"], s["mode"], s["variant"]): s for s in report["speedups"]}
    assert speedups["resnet22", "dense", "fp32"]["speedup"] == 1.0
    assert speedups["bl_resnet22_a2b3", "dense", "fp32"]["mac_ratio"] > 1.2  # fewer MACs per frame
    assert {(q["arch"], q["kind"]) for q in report["dense_vs_window"]} == {
        (a, k) for a in archs for k in ("inference", "training")}
    assert all(q["ratio"] > 0 and q["mac_ratio"] > 1 for q in report["dense_vs_window"])
    assert len(report["targets"]) == 3 + 3 * 3 and all(isinstance(t["met"], bool) for t in report["targets"])
    (profile,) = report["profile"][:1]
    assert profile["arch"] == "bl_resnet22_a2b3" and profile["ms_per_forward"] > 0
    regions = {"stem", "stages.0", "stages.0 branch 0", "stages.0 branch 1", "stages.3", "head", "output"}
    assert regions <= set(profile["regions_ms"])

    printed = capsys.readouterr().out
    assert "| bl_resnet22_a2b3 | dense | fp32-opt |" in printed and "Reference: 3x3 conv 32->32" in printed


def test_unknown_architecture_is_refused(speech_speed, keep_threads):
    with pytest.raises(SystemExit, match="not speech architectures"):
        speech_speed.main(["--quick", "--archs", "resnet50"])
