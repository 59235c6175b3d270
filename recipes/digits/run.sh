#!/usr/bin/env bash
# Spoken digits, offline, on a CPU: the embedded default and blasr's end-to-end check.
#
#   bash recipes/digits/run.sh                      # everything, from a clean clone (about 15 min on 2 idle cores: RESULTS.md)
#   bash recipes/digits/run.sh --stage 3            # from training on (each stage can be re-run)
#   bash recipes/digits/run.sh --num-train 60 --num-dev 10 --num-test 10 --epochs 1   # a smoke run
#
# Stage 0 synthesizes digit strings with espeak-ng (installed if missing), split
# by voice, and the held-out test conditions (--extra-tests): test_other, the
# test utterances spoken by flite (installed if missing), and test_tel, the test
# audio through an 8 kHz round trip; 1 computes 64-bin log-mel; 2 builds the lang
# directory, GMM mono and triphone systems, their alignments, HCLG and the GMM
# baseline WER, then the multi-condition training copies (--speeds, --augment:
# speed copies realigned by the GMM, one noise / babble / reverberation /
# telephone copy of each); 3 trains a bL-ResNet-22 and a ResNet-22 of the same
# width on them (chunk mode, espeak-ng speech only; side by side, one thread each,
# logs in exp/ARCH/log/train.log: --train-jobs); 4 exports log-likelihoods as Kaldi
# archives; 5 decodes, scores and prints the table (a column per test set); 6 writes
# a system directory per system (exp/gmm/tri/system, exp/ARCH/system) for python -m blasr.transcribe.
set -euo pipefail
cd "$(dirname "$0")"
recipe_dir=$(pwd)

stage=0
stop_stage=100
nj=2                      # parallel jobs (synthesis, features, GMM training, alignment, decoding)
seed=0
num_train=2000            # utterances; the split is by voice (speakers of dev/test never in train)
num_dev=200
num_test=300
data=data                 # corpus, features, lang, targets
exp=exp                   # models, alignments, decodings
num_leaves=300            # tree leaves at most (build-tree merges some back) = CD states = network classes
total_gauss=3000
archs="bl_resnet22_a2b3 resnet22"
train_config=conf/train.yaml
epochs=                   # empty: the config's
width=                    # empty: the config's
threads=2                 # torch threads for training and export
train_jobs=2              # networks trained at once, threads / train_jobs torch threads each (1: one after another)
cmd=                      # cmd.sh: launcher of the jobs (blasr-run, "blasr-slurm --mem 4G", queue.pl; docs/cluster.md)
train_cmd=                # cmd.sh's cuda_cmd: launcher of the training, one job per network (e.g. "blasr-slurm --mem 8G")
train_nproc=0             # training processes per node through local/slurm_torchrun.sh (a Slurm --train-cmd; 0: plain python)
extra_tests="test_other test_tel"  # held-out test conditions besides test (any of these two; "" for none)
speeds="0.9 1.0 1.1"      # multi-condition training: speed-perturbed copies, realigned by the GMM ("1.0": none)
augment="noise babble reverb telephone"  # and one augmented copy of each, its kind drawn per recording ("": none)
lm_weights=7:17           # the dev sweep: LM weights LO:HI x penalties 0, 0.5, 1 (Kaldi's score_kaldi.sh range)
blasr_option_names="stage stop_stage nj seed num_train num_dev num_test data exp num_leaves total_gauss archs
  train_config epochs width threads train_jobs extra_tests speeds augment lm_weights cmd
  train_cmd train_nproc"

. ../../local/log.sh
. ../../local/stages.sh
. ../../local/parse_options.sh
. ../../local/env.sh
. ../../local/train_line.sh
export OMP_NUM_THREADS=$threads
cmd_opts=()
if [ -n "$cmd" ]; then cmd_opts=(--cmd "$cmd"); fi  # given to every program that runs jobs

# list options, split on white space only (never globbed)
read -r -d '' -a arch_list <<< "$archs" || true
read -r -d '' -a extra_list <<< "$extra_tests" || true
read -r -d '' -a speed_list <<< "$speeds" || true
read -r -d '' -a augment_list <<< "$augment" || true
train_set=train            # what the networks train on: train, or its multi-condition copies train_mc
if [ "${speed_list[*]-}" != "1.0" ] || [ ${#augment_list[@]} -gt 0 ]; then train_set=train_mc; fi
tests=(test ${extra_list[@]+"${extra_list[@]}"})  # every test set is decoded with the LM weight and penalty chosen on dev
extra_options=()
for part in ${extra_list[@]+"${extra_list[@]}"}; do
  case $part in
    test_other) extra_options+=(--other-synth) ;;
    test_tel) extra_options+=(--telephone) ;;
    *) die "--extra-tests: unknown test set '$part' (test_other, test_tel)" ;;
  esac
done

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: synthesize the digits corpus ($num_train / $num_dev / $num_test utterances, seed $seed)"
  bash ../../local/install_espeak.sh
  if [[ " ${extra_list[*]-} " == *" test_other "* ]]; then
    bash ../../local/install_flite.sh
  fi
  python -m blasr.prepare_digits --out "$data/corpus" --seed "$seed" --num-train "$num_train" \
    --num-dev "$num_dev" --num-test "$num_test" --nj "$nj" ${extra_options[@]+"${extra_options[@]}"}
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  needs 1 0 "$data/corpus"
  for part in train dev "${tests[@]}"; do needs 1 0 "$data/corpus/$part/cuts.jsonl.gz"; done
  if [[ " ${extra_list[*]-} " == *" test_other "* ]]; then needs 1 0 "$data/corpus/test_other"; fi
  log "stage 1: 64-bin log-mel features (16 kHz, snip-edges true)"
  for part in train dev "${tests[@]}"; do
    python -m blasr.features --cuts "$data/corpus/$part/cuts.jsonl.gz" --out "$data/fbank/$part" \
      --sample-rate 16000 --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  needs 2 0 "$data/corpus/dict/lexicon.txt"
  for part in train dev "${tests[@]}"; do needs 2 1 "$data/fbank/$part"; done
  log "stage 2: lang, GMM mono -> tri ($num_leaves leaves), alignments, HCLG, GMM baseline"
  python -m blasr.prepare_lang "$data/corpus/dict" "$data/lang" --word-loop --overwrite
  python -m blasr.gmm train --data "$data/fbank/train/cuts.jsonl.gz" --lang "$data/lang" --exp "$exp/gmm" \
    --mono-utterances 500 --mono-iters 25 --mono-gauss 400 --tri-iters 20 \
    --num-leaves "$num_leaves" --total-gauss "$total_gauss" --seed "$seed" --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
  python -m blasr.gmm align --model "$exp/gmm/tri" --data "$data/fbank/dev/cuts.jsonl.gz" --lang "$data/lang" \
    --out "$exp/gmm/tri_ali_dev" --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
  python -m blasr.targets --cuts "$data/fbank/train/cuts.jsonl.gz" --ali-dir "$exp/gmm/tri_ali" \
    --out "$data/targets/train"
  python -m blasr.targets --cuts "$data/fbank/dev/cuts.jsonl.gz" --ali-dir "$exp/gmm/tri_ali_dev" \
    --out "$data/targets/dev"
  python -m blasr.mkgraph "$data/lang" "$exp/gmm/tri" "$exp/gmm/tri/graph"
  for part in dev "${tests[@]}"; do
    python -m blasr.gmm compute-likes --model "$exp/gmm/tri" --data "$data/fbank/$part/cuts.jsonl.gz" \
      --out "$exp/gmm/tri/loglikes_$part"
  done
  # the LM weight and insertion penalty are chosen on dev and applied to test, as the paper did
  python -m blasr.decode --graph "$exp/gmm/tri/graph" --model "$exp/gmm/tri/final.mdl" \
    --loglikes "scp:$exp/gmm/tri/loglikes_dev/loglikes.scp" --text "$data/corpus/dev/text" \
    --out "$exp/gmm/tri/decode_dev" --sweep "$lm_weights" --lattices --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
  for part in "${tests[@]}"; do
    python -m blasr.decode --graph "$exp/gmm/tri/graph" --model "$exp/gmm/tri/final.mdl" \
      --loglikes "scp:$exp/gmm/tri/loglikes_$part/loglikes.scp" --text "$data/corpus/$part/text" \
      --out "$exp/gmm/tri/decode_$part" --setting-from "$exp/gmm/tri/decode_dev" --nj "$nj" \
        ${cmd_opts[@]+"${cmd_opts[@]}"}
  done
  if [ "$train_set" = train_mc ]; then
    # the networks' training data: Kaldi's 3-way speed copies, realigned by the GMM (never stretched), and an
    # augmented copy of each (noise, babble, reverberation or telephone band: lazy transforms, no audio
    # written) that takes its clean copy's alignment; still espeak-ng speech only (docs/training.md)
    log "stage 2: multi-condition copies of train (speeds ${speed_list[*]}; augmented: ${augment_list[*]-none})"
    python -m blasr.perturb --cuts "$data/corpus/train/cuts.jsonl.gz" --out "$data/corpus/train_mc" \
      --speeds "${speed_list[@]}" ${augment_list[@]+--augment "${augment_list[@]}"} --augment-copies one \
      --seed "$seed"
    python -m blasr.features --cuts "$data/corpus/train_mc/cuts.jsonl.gz" --out "$data/fbank/train_mc" \
      --sample-rate 16000 --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
    mc_ali="$exp/gmm/tri_ali"
    if [ "${speed_list[*]}" != "1.0" ]; then
      mc_ali="$exp/gmm/tri_ali_mc"
      python -m blasr.gmm align --model "$exp/gmm/tri" --data "$data/fbank/train_mc/cuts.jsonl.gz" \
        --lang "$data/lang" --out "$mc_ali" --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
    fi
    python -m blasr.targets --cuts "$data/fbank/train_mc/cuts.jsonl.gz" --ali-dir "$mc_ali" \
      --out "$data/targets/train_mc" --clean-alignments
  fi
fi

overrides=()
[ -n "$epochs" ] && overrides+=(--epochs "$epochs")
[ -n "$width" ] && overrides+=(--width "$width")

[[ $train_jobs =~ ^[1-9][0-9]*$ ]] || die "--train-jobs must be a positive whole number, not '$train_jobs'"
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  needs 3 "give --train-config an existing file" "$train_config"
  needs 3 2 "$data/targets/$train_set/num_pdfs" "$data/targets/dev/num_pdfs"
  # several networks at once, each with a share of the threads: at 1/8 width one thread trains about 9/10
  # as fast as two, so two networks side by side take little more than one (docs/benchmarks.md); each
  # runs as a launcher job (blasr-run unless --train-cmd) with its log in exp/ARCH/log/train.log
  at_once=$(( train_jobs < ${#arch_list[@]} ? train_jobs : ${#arch_list[@]} ))
  job_threads=$threads
  if [ "$at_once" -gt 1 ]; then
    job_threads=$(( threads / at_once > 0 ? threads / at_once : 1 ))
    train_cmd=${train_cmd:-blasr-run}
  fi
  running=()
  finish_trainings() {  # wait for every running training, then stop if one failed, naming the logs
    local job arch failed=()
    for job in ${running[@]+"${running[@]}"}; do
      arch=${job#*:}
      if wait "${job%%:*}"; then
        log "stage 3: $arch trained: $(grep -o 'epoch [0-9]*/[0-9]*: .*' "$exp/$arch/log/train.log" | tail -n 1)"
      else
        failed+=("$exp/$arch/log/train.log")
      fi
    done
    running=()
    [ "${#failed[@]}" -eq 0 ] || die "stage 3: ${#failed[@]} training(s) failed: see ${failed[*]}"
  }
  for arch in "${arch_list[@]}"; do
    log "stage 3: train $arch${train_cmd:+ through $train_cmd (log: $exp/$arch/log/train.log)} on $train_set (chunk mode, CPU, $job_threads threads)"
    train_line "$exp/$arch/log/train.log" python -m blasr.train
    command=("${train_line[@]}" --arch "$arch" --config "$train_config" ${overrides[@]+"${overrides[@]}"}
             --data "$data/targets/$train_set/cuts.jsonl.gz" --valid-data "$data/targets/dev/cuts.jsonl.gz"
             --exp "$exp/$arch" --resume auto)
    if [ "$at_once" -gt 1 ]; then
      OMP_NUM_THREADS=$job_threads "${command[@]}" &
      running+=("$!:$arch")
      if [ "${#running[@]}" -ge "$at_once" ]; then finish_trainings; fi
    else
      "${command[@]}"
    fi
  done
  finish_trainings
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  for part in dev "${tests[@]}"; do needs 4 1 "$data/fbank/$part"; done
  for arch in "${arch_list[@]}"; do needs 4 3 "$exp/$arch/final.pt"; done
  for arch in "${arch_list[@]}"; do
    log "stage 4: export $arch log-likelihoods (log-posteriors minus log-priors) for dev and ${tests[*]}"
    for part in dev "${tests[@]}"; do
      python -m blasr.export --model "$exp/$arch/final.pt" --data "$data/fbank/$part/cuts.jsonl.gz" \
        --out "$exp/$arch/loglikes_$part" --device cpu --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
    done
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  needs 5 2 "$exp/gmm/tri/graph" "$exp/gmm/tri/final.mdl"
  for part in dev "${tests[@]}"; do
    needs 5 2 "$exp/gmm/tri/decode_$part/wer"
    for arch in "${arch_list[@]}"; do needs 5 4 "$exp/$arch/loglikes_$part/loglikes.scp"; done
  done
  systems=(--system "GMM triphone=$exp/gmm/tri")
  for arch in "${arch_list[@]}"; do
    log "stage 5: decode and score $arch (LM weight and penalty chosen on dev)"
    python -m blasr.decode --graph "$exp/gmm/tri/graph" --model "$exp/gmm/tri/final.mdl" \
      --loglikes "scp:$exp/$arch/loglikes_dev/loglikes.scp" --text "$data/corpus/dev/text" \
      --out "$exp/$arch/decode_dev" --sweep "$lm_weights" --lattices --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
    for part in "${tests[@]}"; do
      python -m blasr.decode --graph "$exp/gmm/tri/graph" --model "$exp/gmm/tri/final.mdl" \
        --loglikes "scp:$exp/$arch/loglikes_$part/loglikes.scp" --text "$data/corpus/$part/text" \
        --out "$exp/$arch/decode_$part" --setting-from "$exp/$arch/decode_dev" --nj "$nj" \
          ${cmd_opts[@]+"${cmd_opts[@]}"}
    done
    systems+=(--system "$arch=$exp/$arch")
  done
  python -m blasr.results "${systems[@]}" --sets dev "${tests[@]}" --out "$exp/results.md"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  needs 6 2 "$exp/gmm/tri/graph" "$exp/gmm/tri/decode_dev/wer"
  for arch in "${arch_list[@]}"; do needs 6 5 "$exp/$arch/decode_dev/wer"; done
  log "stage 6: a system directory per system (python -m blasr.transcribe SYSTEM AUDIO... recognises with it)"
  python -m blasr.package --gmm "$exp/gmm/tri" --graph "$exp/gmm/tri/graph" --fbank "$data/fbank/train/fbank.json" \
    --setting-from "$exp/gmm/tri/decode_dev" --lexicon "$data/corpus/dict/lexicon.txt" --name "GMM triphone" \
    --sets dev "${tests[@]}" --out "$exp/gmm/tri/system"
  for arch in "${arch_list[@]}"; do
    python -m blasr.package --nnet "$exp/$arch/final.pt" --model "$exp/gmm/tri/final.mdl" \
      --graph "$exp/gmm/tri/graph" --setting-from "$exp/$arch/decode_dev" --cmvn-from "$data/fbank/train/cuts.jsonl.gz" \
      --lexicon "$data/corpus/dict/lexicon.txt" --sets dev "${tests[@]}" --out "$exp/$arch/system"
  done
fi
log "done (stages $stage..$stop_stage)"
