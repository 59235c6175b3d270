#!/usr/bin/env bash
# Spoken digits, offline, on a CPU: the embedded default and blasr's end-to-end check.
#
#   bash recipes/digits/run.sh                      # everything, from a clean clone (12-16 min on 2 idle cores: RESULTS.md)
#   bash recipes/digits/run.sh --stage 3            # from training on (each stage can be re-run)
#   bash recipes/digits/run.sh --num-train 60 --num-dev 10 --num-test 10 --epochs 1   # a smoke run
#
# Stage 0 synthesizes digit strings with espeak-ng (installed if missing), split
# by voice; 1 computes 64-bin log-mel; 2 builds the lang directory, GMM mono and
# triphone systems, their alignments, HCLG and the GMM baseline WER; 3 trains a
# bL-ResNet-22 and a ResNet-22 of the same width (chunk mode); 4 exports
# log-likelihoods as Kaldi archives; 5 decodes, scores and prints the table.
set -euo pipefail
cd "$(dirname "$0")"
recipe_dir=$(pwd)

stage=0
stop_stage=100
nj=2                      # parallel jobs (synthesis, features, alignment, decoding)
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
blasr_option_names="stage stop_stage nj seed num_train num_dev num_test data exp num_leaves total_gauss archs
  train_config epochs width threads"

. ../../local/log.sh
. ../../local/parse_options.sh
. ../../local/env.sh
export OMP_NUM_THREADS=$threads

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "stage 0: synthesize the digits corpus ($num_train / $num_dev / $num_test utterances, seed $seed)"
  bash ../../local/install_espeak.sh
  python -m blasr.prepare_digits --out $data/corpus --seed $seed --num-train $num_train --num-dev $num_dev \
    --num-test $num_test --nj $nj
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "stage 1: 64-bin log-mel features (16 kHz, snip-edges true)"
  for part in train dev test; do
    python -m blasr.features --cuts $data/corpus/$part/cuts.jsonl.gz --out $data/fbank/$part \
      --sample-rate 16000 --nj $nj
  done
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: lang, GMM mono -> tri ($num_leaves leaves), alignments, HCLG, GMM baseline"
  python -m blasr.prepare_lang $data/corpus/dict $data/lang --word-loop --overwrite
  python -m blasr.gmm train --data $data/fbank/train/cuts.jsonl.gz --lang $data/lang --exp $exp/gmm \
    --mono-utterances 500 --mono-iters 25 --mono-gauss 400 --tri-iters 20 \
    --num-leaves $num_leaves --total-gauss $total_gauss --seed $seed
  python -m blasr.gmm align --model $exp/gmm/tri --data $data/fbank/dev/cuts.jsonl.gz --lang $data/lang \
    --out $exp/gmm/tri_ali_dev --nj $nj
  python -m blasr.targets --cuts $data/fbank/train/cuts.jsonl.gz --ali-dir $exp/gmm/tri_ali --out $data/targets/train
  python -m blasr.targets --cuts $data/fbank/dev/cuts.jsonl.gz --ali-dir $exp/gmm/tri_ali_dev --out $data/targets/dev
  python -m blasr.mkgraph $data/lang $exp/gmm/tri $exp/gmm/tri/graph
  for part in dev test; do
    python -m blasr.gmm compute-likes --model $exp/gmm/tri --data $data/fbank/$part/cuts.jsonl.gz \
      --out $exp/gmm/tri/loglikes_$part
  done
  # the LM weight and insertion penalty are chosen on dev and applied to test, as the paper did
  python -m blasr.decode --graph $exp/gmm/tri/graph --model $exp/gmm/tri/final.mdl \
    --loglikes scp:$exp/gmm/tri/loglikes_dev/loglikes.scp --text $data/corpus/dev/text \
    --out $exp/gmm/tri/decode_dev --sweep 3:15 --nj $nj
  python -m blasr.decode --graph $exp/gmm/tri/graph --model $exp/gmm/tri/final.mdl \
    --loglikes scp:$exp/gmm/tri/loglikes_test/loglikes.scp --text $data/corpus/test/text \
    --out $exp/gmm/tri/decode_test --setting-from $exp/gmm/tri/decode_dev --nj $nj
fi

overrides=()
[ -n "$epochs" ] && overrides+=(--epochs $epochs)
[ -n "$width" ] && overrides+=(--width $width)

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for arch in $archs; do
    log "stage 3: train $arch (chunk mode, CPU, $threads threads)"
    python -m blasr.train --arch $arch --config $train_config ${overrides[@]+"${overrides[@]}"} \
      --data $data/targets/train/cuts.jsonl.gz --valid-data $data/targets/dev/cuts.jsonl.gz \
      --exp $exp/$arch --resume auto
  done
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  for arch in $archs; do
    log "stage 4: export $arch log-likelihoods (log-posteriors minus log-priors) for dev and test"
    for part in dev test; do
      python -m blasr.export --model $exp/$arch/final.pt --data $data/fbank/$part/cuts.jsonl.gz \
        --out $exp/$arch/loglikes_$part --device cpu
    done
  done
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  systems=(--system "GMM triphone=$exp/gmm/tri")
  for arch in $archs; do
    log "stage 5: decode and score $arch (LM weight and penalty chosen on dev)"
    python -m blasr.decode --graph $exp/gmm/tri/graph --model $exp/gmm/tri/final.mdl \
      --loglikes scp:$exp/$arch/loglikes_dev/loglikes.scp --text $data/corpus/dev/text \
      --out $exp/$arch/decode_dev --sweep 3:15 --nj $nj
    python -m blasr.decode --graph $exp/gmm/tri/graph --model $exp/gmm/tri/final.mdl \
      --loglikes scp:$exp/$arch/loglikes_test/loglikes.scp --text $data/corpus/test/text \
      --out $exp/$arch/decode_test --setting-from $exp/$arch/decode_dev --nj $nj
    systems+=(--system "$arch=$exp/$arch")
  done
  python -m blasr.results "${systems[@]}" --sets dev test --out $exp/results.md
fi
log "done (stages $stage..$stop_stage)"
