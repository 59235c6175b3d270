"""What the recipes check before any heavy work: option values, each stage's inputs, the GPU count, quoting.

Fast: no stage here does real work (each stops at its input check, or runs shell helpers alone).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPES = {name: ROOT / "recipes" / name / "run.sh" for name in ("digits", "readspeech", "swbd")}
SCRIPTS = sorted(RECIPES.values()) + sorted((ROOT / "local").glob("*.sh"))
ODD = "my data [1]*"  # a space and glob characters, as a user's directory may have


def run(arguments, env=None, timeout=120):
    return subprocess.run(["bash", *map(str, arguments)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_boolean_options_take_only_true_or_false(tmp_path):
    script = tmp_path / "recipe.sh"
    script.write_text(f"flag=true\nname=x\nblasr_option_names='flag name'\n. {ROOT / 'local' / 'parse_options.sh'}\n"
                      'echo "flag=$flag name=$name"\n')
    assert run([script, "--flag", "false", "--name", "yes"]).stdout == "flag=false name=yes\n"
    done = run([script, "--flag", "yes"])
    assert done.returncode == 1 and done.stderr.strip().endswith("option --flag takes true or false, not 'yes'")
    assert run([script, "--flag=1"]).returncode == 1


def test_swbd_ngpu_defaults_to_the_visible_gpus():
    for visible, count in (("", 0), ("-1", 0), ("0", 1), ("0,1", 2), ("2,-1,3", 1)):
        assert run([ROOT / "local" / "num_gpus.sh"], {"CUDA_VISIBLE_DEVICES": visible}).stdout == f"{count}\n"
        done = run([RECIPES["swbd"], "--help"], {"CUDA_VISIBLE_DEVICES": visible})
        assert f"  --ngpu {count}\n" in done.stderr, done.stderr


def test_a_stage_without_its_inputs_says_what_to_run_first(tmp_path):
    data, exp = tmp_path / ODD / "data", tmp_path / ODD / "exp"
    done = run([RECIPES["swbd"], "--stage", 3, "--data", data, "--exp", exp, "--archs", "resnet22"])
    assert done.returncode == 1
    assert done.stderr.strip().endswith(f"error: stage 3 needs {exp}/targets/train_nodup/num_pdfs (missing): "
                                        "run --stage 2 first (it writes it)"), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 3


def test_a_killed_stage_output_is_not_read(tmp_path):
    # stage 1 of digits was stopped after writing train's manifest but before its .completed marker
    data = tmp_path / ODD
    (data / "corpus" / "dict").mkdir(parents=True)
    (data / "corpus" / "dict" / "lexicon.txt").write_text("one W AH N\n")
    (data / "fbank" / "train").mkdir(parents=True)
    (data / "fbank" / "train" / "cuts.jsonl.gz").write_bytes(b"partial")
    done = run([RECIPES["digits"], "--stage", 2, "--data", data, "--exp", tmp_path / "exp"])
    assert done.returncode == 1 and not (data / "lang").exists()
    assert done.stderr.strip().endswith(f"error: stage 2 needs {data}/fbank/train (incomplete: no .completed "
                                        "marker, its run did not finish): run --stage 1 first (it writes it)")


def test_swbd_without_gpus_trains_in_one_plain_process(tmp_path):
    targets = tmp_path / ODD / "targets" / "train_nodup"
    targets.mkdir(parents=True)
    (targets / "num_pdfs").write_text("8\n")
    done = run([RECIPES["swbd"], "--stage", 3, "--stop-stage", 3, "--exp", tmp_path / ODD, "--archs", "resnet22",
                "--train-config", "conf/debug.yaml"], {"CUDA_VISIBLE_DEVICES": ""}, timeout=300)
    # no cut manifest: blasr.train itself stops on it, after the recipe chose the plain process
    assert done.returncode != 0 and "stage 3: train resnet22 (python -m blasr.train;" in done.stderr, done.stderr
    assert "torchrun" not in done.stderr and f"{targets}/cuts.jsonl.gz" in done.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="no shellcheck (local/test.sh installs it)")
def test_recipes_quote_their_expansions():
    # SC2086 / SC2068 / SC2046 / SC2206: an unquoted expansion splits a path with spaces and globs its characters
    done = subprocess.run(["shellcheck", "--include=SC2086,SC2068,SC2046,SC2206", "--format=gcc", *map(str, SCRIPTS)],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout == "" and done.returncode == 0, done.stdout[-3000:]


@pytest.mark.parametrize("recipe, stage, extra", [("digits", 3, ["--speeds", "1.0", "--augment", ""]),
                                                  ("readspeech", 4, [])])
def test_the_training_stage_runs_through_its_train_cmd(recipe, stage, extra, tmp_path):
    data, exp = tmp_path / ODD / "data", tmp_path / ODD / "exp"
    for part in ("train", "dev"):
        (data / "targets" / part).mkdir(parents=True)
        (data / "targets" / part / "num_pdfs").write_text("8\n")
    options = [RECIPES[recipe], "--stage", stage, "--stop-stage", stage, "--data", data, "--exp", exp,
               "--archs", "resnet22", *extra]
    done = run([*options, "--train-cmd", "blasr-run --mem 8G"], timeout=300)
    # no cut manifest: blasr.train stops on it inside the launcher's job, whose log is Kaldi's exp/ARCH/log/train.log
    assert done.returncode != 0, done.stderr
    assert f"stage {stage}: train resnet22 through blasr-run --mem 8G" in done.stderr
    log = (exp / "resnet22" / "log" / "train.log").read_text()
    assert log.startswith("# python -m blasr.train --arch resnet22 ") and f"{data}/targets/train/cuts.jsonl.gz" in log
    assert log.splitlines()[-1].startswith("# Ended (code 1)")
    # several processes go through local/slurm_torchrun.sh, which needs the Slurm job --train-cmd submits
    done = run([*options, "--train-nproc", 2], {"SLURM_JOB_ID": ""}, timeout=300)
    assert done.returncode != 0 and "slurm_torchrun.sh: not inside a Slurm job" in done.stderr, done.stderr
    done = run([*options, "--train-nproc", "two"])
    assert done.returncode == 1 and "--train-nproc must be a whole number" in done.stderr


def test_the_digits_networks_train_side_by_side(tmp_path):
    data, exp = tmp_path / ODD / "data", tmp_path / ODD / "exp"
    for part in ("train", "dev"):
        (data / "targets" / part).mkdir(parents=True)
        (data / "targets" / part / "num_pdfs").write_text("8\n")
    options = [RECIPES["digits"], "--stage", 3, "--stop-stage", 3, "--data", data, "--exp", exp,
               "--speeds", "1.0", "--augment", ""]
    # both (the default --train-jobs 2) start, one thread each, each as a blasr-run job with its own log; no
    # cut manifest, so both fail in their jobs: the recipe waits for both and names both logs
    done = run(options, timeout=300)
    assert done.returncode == 1, done.stderr
    for arch in ("bl_resnet22_a2b3", "resnet22"):
        assert f"stage 3: train {arch} through blasr-run (log: {exp}/{arch}/log/train.log) on train " \
               "(chunk mode, CPU, 1 threads)" in done.stderr
        log = (exp / arch / "log" / "train.log").read_text()
        assert log.startswith(f"# python -m blasr.train --arch {arch} ") and log.splitlines()[-1].startswith(
            "# Ended (code 1)")
    assert done.stderr.strip().endswith(f"stage 3: 2 training(s) failed: see {exp}/bl_resnet22_a2b3/log/train.log "
                                        f"{exp}/resnet22/log/train.log")
    done = run([*options, "--train-jobs", 1, "--archs", "resnet22"], timeout=300)  # one after another: no launcher
    assert done.returncode != 0 and "stage 3: train resnet22 on train (chunk mode, CPU, 2 threads)" in done.stderr
    done = run([*options, "--train-jobs", 0])
    assert done.returncode == 1 and "--train-jobs must be a positive whole number, not '0'" in done.stderr


def test_swbd_training_runs_through_its_train_cmd(tmp_path):
    exp = tmp_path / ODD
    (exp / "targets" / "train_nodup").mkdir(parents=True)
    (exp / "targets" / "train_nodup" / "num_pdfs").write_text("8\n")
    options = [RECIPES["swbd"], "--stage", 3, "--stop-stage", 3, "--exp", exp, "--archs", "resnet22",
               "--train-config", "conf/debug.yaml"]
    done = run([*options, "--train-cmd", "blasr-run --mem 8G"], {"CUDA_VISIBLE_DEVICES": ""}, timeout=300)
    # no cut manifest: blasr.train stops on it inside the launcher's job, whose log is Kaldi's exp/ARCH/log/train.log
    assert done.returncode != 0, done.stderr
    assert "stage 3: train resnet22 (python -m blasr.train through blasr-run --mem 8G, log " in done.stderr
    log = (exp / "resnet22" / "log" / "train.log").read_text()
    assert log.startswith("# python -m blasr.train --arch resnet22 ") and f"{exp}/targets/train_nodup/cuts" in log
    assert log.splitlines()[-1].startswith("# Ended (code 1)")
    # --train-nproc: local/slurm_torchrun.sh (it needs the Slurm job --train-cmd submits), whatever --ngpu says
    done = run([*options, "--train-nproc", 2, "--ngpu", 2], {"SLURM_JOB_ID": ""}, timeout=300)
    assert done.returncode != 0 and "slurm_torchrun.sh: not inside a Slurm job" in done.stderr, done.stderr
    assert "stage 3: train resnet22 (bash ../../local/slurm_torchrun.sh --nproc-per-node 2;" in done.stderr
    done = run([*options, "--train-nproc", "two"])
    assert done.returncode == 1 and "--train-nproc must be a whole number" in done.stderr
    done = run([*options, "--train-nproc", 2, "--nnodes", 2])
    assert done.returncode == 1 and done.stderr.strip().endswith(
        "error: --train-nproc takes its nodes from the Slurm job (--train-cmd \"blasr-slurm --num-nodes 2 ...\"), "
        "not --nnodes"), done.stderr
