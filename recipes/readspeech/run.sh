#!/usr/bin/env bash
# Read speech, offline, on a CPU: English sentences (the King James Bible) spoken by espeak-ng,
# a CMUdict lexicon of thousands of words and a Kneser-Ney trigram: a large-vocabulary task.
#
#   bash recipes/readspeech/run.sh                    # everything, from a clean clone (see RESULTS.md for times)
#   bash recipes/readspeech/run.sh --stage 4          # from training on (each stage can be re-run)
#   bash recipes/readspeech/run.sh --hours 0.03 --num-dev 8 --num-test 8 --num-leaves 200 --total-gauss 400 --epochs 1   # smoke run
#
# Stage 0 makes the corpus (espeak-ng and Debian's bible-kjv installed if missing; speakers and
# sentences of dev / test never in training); 1 computes 64-bin log-mel; 2 builds the lang
# directory, the trigram LM and G.fst, the GMM mono and triphone systems, their alignments and the
# frame targets; 3 builds HCLG (time and peak memory logged) and decodes with the GMM; 4 trains a
# bL-ResNet-22 and a ResNet-22 of the same width (chunk mode); 5 exports log-likelihoods as Kaldi
# archives; 6 decodes dev once into lattices (lat.N.gz), chooses the LM weight and penalty by rescoring
# them, decodes test at that setting, scores (word times in each decode directory's ctm: the lang has
# word-position phones) and prints the table.
set -euo pipefail
cd "$(dirname "$0")"
recipe_dir=$(pwd)

stage=0
stop_stage=100
nj=2                      # parallel jobs (synthesis, features, alignment, decoding)
seed=0
hours=2                   # training speech (hours); dev / test: held-out sentences and speakers
num_dev=200
num_test=200
data=data                 # corpus, features, lang, LM, targets
exp=exp                   # models, alignments, graph, decodings
lm_order=3
lm_prune=1e-7             # entropy pruning threshold of the LM (0: none)
mono_utterances=500       # shortest utterances for the monophones
mono_iters=25             # EM passes (Kaldi's 40 and 35; fewer, as the digits recipe, for time)
mono_gauss=1000
tri_iters=20
num_leaves=2600           # tree leaves asked = CD states = network classes (the tree's merge keeps about 4 in 5)
total_gauss=13000         # 5 per leaf asked
lm_weights=5:15           # the dev sweep: LM weights LO:HI x penalties 0, 0.5, 1 (rescoring one lattice each)
beam=10.0                 # decoding beam, lattice beam and active states (Kaldi: 13, 8 and 7000; narrower for
lattice_beam=6.0          # time on 2 cores: the dev lattices' search has no active-state limit)
max_active=2000
archs="bl_resnet22_a2b3 resnet22"
train_config=conf/train.yaml
epochs=                   # empty: the config's
width=                    # empty: the config's
threads=2                 # torch threads for training and export
cmd=                      # cmd.sh: launcher of the jobs (blasr-run, "blasr-slurm --mem 4G", queue.pl; docs/cluster.md)
train_cmd=                # cmd.sh's cuda_cmd: launcher of the training, one job per network (e.g. "blasr-slurm --mem 8G")
train_nproc=0             # training processes per node through local/slurm_torchrun.sh (a Slurm --train-cmd; 0: plain python)
blasr_option_names="stage stop_stage nj seed hours num_dev num_test data exp lm_order lm_prune mono_utterances
  mono_iters mono_gauss tri_iters num_leaves total_gauss lm_weights beam lattice_beam max_active archs train_config
  epochs width threads cmd
  train_cmd train_nproc"

. ../../local/log.sh
. ../../local/stages.sh
. ../../local/parse_options.sh
. ../../local/env.sh
. ../../local/train_line.sh
export OMP_NUM_THREADS=$threads
cmd_opts=()
if [ -n "$cmd" ]; then cmd_opts=(--cmd "$cmd"); fi  # given to every program that runs jobs
read -r -d '' -a arch_list <<< "$archs" || true  # split on white space only (never globbed)
graph=$exp/gmm/tri/graph
decode_opts=(--beam "$beam" --lattice-beam "$lattice_beam" --max-active "$max_active" --nj "$nj")

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: read-speech corpus ($hours h of training speech, $num_dev / $num_test dev / test sentences, seed $seed)"
  bash ../../local/install_espeak.sh
  bash ../../local/install_deb.sh bible-kjv bible
  python -m blasr.prepare_readspeech --out "$data/corpus" --seed "$seed" --hours "$hours" --num-dev "$num_dev" \
    --num-test "$num_test" --nj "$nj"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  needs 1 0 "$data/corpus"
  log "stage 1: 64-bin log-mel features (16 kHz, snip-edges true)"
  for part in train dev test; do
    python -m blasr.features --cuts "$data/corpus/$part/cuts.jsonl.gz" --out "$data/fbank/$part" \
      --sample-rate 16000 --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  needs 2 0 "$data/corpus"
  needs 2 1 "$data/fbank/train" "$data/fbank/dev"
  log "stage 2: lang, $lm_order-gram LM and G.fst, GMM mono -> tri ($num_leaves leaves), alignments, targets"
  python -m blasr.prepare_lang "$data/corpus/dict" "$data/lang" --position-dependent-phones true --overwrite
  TQDM_DISABLE=1 python -m blasr.train_lm --text "$data/corpus/lm/text" --out "$data/lm" --order "$lm_order" \
    --prune-threshold "$lm_prune" --dev-text "$data/corpus/dev/text"
  python -m blasr.format_lm "$data/lang" "$data/lm/lm.arpa" "$data/lang_test"
  python -m blasr.gmm train --data "$data/fbank/train/cuts.jsonl.gz" --lang "$data/lang" --exp "$exp/gmm" \
    --mono-utterances "$mono_utterances" --mono-iters "$mono_iters" --mono-gauss "$mono_gauss" \
    --tri-iters "$tri_iters" --num-leaves "$num_leaves" --total-gauss "$total_gauss" --seed "$seed" --nj "$nj" \
    ${cmd_opts[@]+"${cmd_opts[@]}"}
  python -m blasr.gmm align --model "$exp/gmm/tri" --data "$data/fbank/dev/cuts.jsonl.gz" --lang "$data/lang" \
    --out "$exp/gmm/tri_ali_dev" --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
  python -m blasr.targets --cuts "$data/fbank/train/cuts.jsonl.gz" --ali-dir "$exp/gmm/tri_ali" \
    --out "$data/targets/train"
  python -m blasr.targets --cuts "$data/fbank/dev/cuts.jsonl.gz" --ali-dir "$exp/gmm/tri_ali_dev" \
    --out "$data/targets/dev"
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  needs 3 1 "$data/fbank/dev" "$data/fbank/test"
  needs 3 2 "$data/lang_test/G.fst" "$exp/gmm/tri/final.mdl"
  log "stage 3: HCLG, then the GMM baseline (LM weight and penalty chosen on dev)"
  mkdir -p "$exp/gmm/tri"
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -v -o "$exp/gmm/tri/mkgraph.time" \
      python -m blasr.mkgraph "$data/lang_test" "$exp/gmm/tri" "$graph" --overwrite
    log "mkgraph: $(grep -E 'Elapsed \(wall clock\)' "$exp/gmm/tri/mkgraph.time" | sed 's/.*): //') wall," \
      "$(grep 'Maximum resident' "$exp/gmm/tri/mkgraph.time" | awk '{printf "%.0f MB", $NF / 1024}') peak memory"
  else
    start=$(date +%s)
    python -m blasr.mkgraph "$data/lang_test" "$exp/gmm/tri" "$graph" --overwrite
    log "mkgraph: $(( $(date +%s) - start )) s wall (no /usr/bin/time here: peak memory not measured)"
  fi
  ls -l "$graph/HCLG.fst" >&2
  for part in dev test; do
    python -m blasr.gmm compute-likes --model "$exp/gmm/tri" --data "$data/fbank/$part/cuts.jsonl.gz" \
      --out "$exp/gmm/tri/loglikes_$part"
  done
  python -m blasr.decode --graph "$graph" --model "$exp/gmm/tri/final.mdl" \
    --loglikes "scp:$exp/gmm/tri/loglikes_dev/loglikes.scp" --text "$data/corpus/dev/text" \
    --out "$exp/gmm/tri/decode_dev" --sweep "$lm_weights" --lattices "${decode_opts[@]}" ${cmd_opts[@]+"${cmd_opts[@]}"}
  python -m blasr.decode --graph "$graph" --model "$exp/gmm/tri/final.mdl" \
    --loglikes "scp:$exp/gmm/tri/loglikes_test/loglikes.scp" --text "$data/corpus/test/text" \
    --out "$exp/gmm/tri/decode_test" --setting-from "$exp/gmm/tri/decode_dev" "${decode_opts[@]}" \
      ${cmd_opts[@]+"${cmd_opts[@]}"}
fi

overrides=()
[ -n "$epochs" ] && overrides+=(--epochs "$epochs")
[ -n "$width" ] && overrides+=(--width "$width")

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  needs 4 "give --train-config an existing file" "$train_config"
  needs 4 2 "$data/targets/train/num_pdfs" "$data/targets/dev/num_pdfs"
  for arch in "${arch_list[@]}"; do
    log "stage 4: train $arch${train_cmd:+ through $train_cmd (log: $exp/$arch/log/train.log)} (chunk mode, CPU, $threads threads)"
    train_line "$exp/$arch/log/train.log" python -m blasr.train
    "${train_line[@]}" --arch "$arch" --config "$train_config" ${overrides[@]+"${overrides[@]}"} \
      --data "$data/targets/train/cuts.jsonl.gz" --valid-data "$data/targets/dev/cuts.jsonl.gz" \
      --exp "$exp/$arch" --resume auto
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  needs 5 1 "$data/fbank/dev" "$data/fbank/test"
  for arch in "${arch_list[@]}"; do needs 5 4 "$exp/$arch/final.pt"; done
  for arch in "${arch_list[@]}"; do
    log "stage 5: export $arch log-likelihoods (log-posteriors minus log-priors) for dev and test"
    for part in dev test; do
      python -m blasr.export --model "$exp/$arch/final.pt" --data "$data/fbank/$part/cuts.jsonl.gz" \
        --out "$exp/$arch/loglikes_$part" --device cpu --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
    done
  done
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  needs 6 3 "$graph" "$exp/gmm/tri/decode_dev/wer" "$exp/gmm/tri/decode_test/wer"
  for arch in "${arch_list[@]}"; do
    needs 6 5 "$exp/$arch/loglikes_dev/loglikes.scp" "$exp/$arch/loglikes_test/loglikes.scp"
  done
  systems=(--system "GMM triphone=$exp/gmm/tri")
  for arch in "${arch_list[@]}"; do
    log "stage 6: decode and score $arch (LM weight and penalty chosen on dev)"
    python -m blasr.decode --graph "$graph" --model "$exp/gmm/tri/final.mdl" \
      --loglikes "scp:$exp/$arch/loglikes_dev/loglikes.scp" --text "$data/corpus/dev/text" \
      --out "$exp/$arch/decode_dev" --sweep "$lm_weights" --lattices "${decode_opts[@]}" ${cmd_opts[@]+"${cmd_opts[@]}"}
    python -m blasr.decode --graph "$graph" --model "$exp/gmm/tri/final.mdl" \
      --loglikes "scp:$exp/$arch/loglikes_test/loglikes.scp" --text "$data/corpus/test/text" \
      --out "$exp/$arch/decode_test" --setting-from "$exp/$arch/decode_dev" "${decode_opts[@]}" \
        ${cmd_opts[@]+"${cmd_opts[@]}"}
    systems+=(--system "$arch=$exp/$arch")
  done
  python -m blasr.results "${systems[@]}" --sets dev test --out "$exp/results.md"
fi
log "done (stages $stage..$stop_stage)"
