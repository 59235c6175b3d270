#!/usr/bin/env bash
# Switchboard (+ Fisher) hybrid CNN acoustic models, Hub5'00 scored on its Switchboard and CallHome halves:
# Big-Little Net, Table 3. Needs the LDC corpora (see README "Switchboard").
#
#   bash recipes/swbd/run.sh --swbd-dir /LDC97S62 --swbd-transcripts /data/swb_ms98_transcriptions \
#       --eval2000-dir /LDC2002S09 --eval2000-transcripts /LDC2002T43 --rt02-dir /RT02 --arpa sw1_tg.arpa.gz \
#       --kaldi-ali-dir /kaldi/egs/swbd/s5c/exp/tri4_ali_nodup --kaldi-lang /kaldi/egs/swbd/s5c/data/lang
#   bash recipes/swbd/run.sh ... --stage 3                 # from training on (any stage can be re-run)
#   bash recipes/swbd/run.sh ... --stage 3 --stop-stage 3 --archs bl_resnet22_a2b3 --ngpu 2
#   bash recipes/swbd/run.sh ... --nj 50 --cmd "blasr-slurm --mem 4G" --train-cmd "blasr-slurm --gpu 2" --ngpu 2
#                                                          # on Slurm: jobs and training as Kaldi's cmd.sh (docs/cluster.md)
#
# 0 prepares the data (lhotse recipes; Kaldi ids, text normalisation, train_dev / train_nodup, 8 kHz
# per-side cuts, the ms98 dict); 1 computes 64-bin log-mel; 2 gives every training utterance its pdf-ids:
# imported from a Kaldi alignment directory (--kaldi-ali-dir, joined by call, side and time) or from
# blasr's own GMM mono -> tri system (--num-leaves 32000), and builds the decoding graph; 3 trains every
# arch (torchrun over --ngpu GPUs; --ngpu 0: one process); 4 exports pseudo log-likelihoods, the prior
# scale chosen on the tune set (RT-02 in the paper); 5 decodes the test sets with the tune set's LM weight,
# scores Hub5'00 hub5-style per half and writes the results table.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=100
nj=4                      # parallel jobs (features, GMM passes, alignment, export, decoding)
cmd=                      # cmd.sh: launcher of the jobs (blasr-run, "blasr-slurm --mem 4G", queue.pl; docs/cluster.md)
data=data                 # corpus, features, lang
exp=exp                   # targets, models, decodings
# LDC corpora (see blasr/data/swbd.py and blasr/data/rt.py for the layouts)
swbd_dir=                 # LDC97S62
swbd_transcripts=         # swb_ms98_transcriptions (with sw-ms98-dict.text)
fisher_dir=               # optional: holds LDC2004S13 / LDC2005S13 (SWB + Fisher = 2000 h)
fisher_transcripts=       # optional: holds LDC2004T19 / LDC2005T19
eval2000_dir=             # LDC2002S09
eval2000_transcripts=     # LDC2002T43
rt03_dir=                 # optional: LDC2007S10
rt02_dir=                 # optional: RT-02 (the paper's tune set)
train_dev_size=4000       # Kaldi's train_dev: the first 4000 utterances
max_duplicates=300        # Kaldi's remove_dup_utts.sh 300
# alignments: imported from Kaldi when kaldi_ali_dir is set, else trained here
kaldi_ali_dir=            # e.g. exp/tri4_ali_nodup (final.mdl, tree, ali.*.gz)
kaldi_dev_ali_dir=        # alignments of train_dev (default: kaldi_ali_dir; none: no validation set)
kaldi_lang=               # its data/lang
kaldi_graph=              # optional: a Kaldi graph directory (HCLG.fst, words.txt) instead of building one
arpa=                     # ARPA LM for G.fst (e.g. Kaldi's sw1_tg / sw1_fsh_fg)
num_leaves=32000          # blasr GMM: tree leaves = network classes (the paper's 32k)
total_gauss=200000
mono_utterances=10000
mono_iters=40
tri_iters=35
boost_silence=1.25        # Kaldi's swbd setting
# training
archs="resnet22 bl_resnet22_a4b1 bl_resnet22_a4b2 bl_resnet22_a4b3 bl_resnet22_a2b3 bl_resnet22_a4b1_cat
  bl_pyr_resnet22_a4b1"          # Table 3's seven rows
train_config=conf/train.yaml   # the paper's recipe (2 GPUs x 256 windows, 16 epochs)
epochs=                   # empty: the config's
width=                    # empty: the config's
ngpu=$(bash ../../local/num_gpus.sh)  # processes per node under torchrun (default: the visible GPUs);
                          # 0: python -m blasr.train (CPU or one GPU)
nnodes=1
rdzv_endpoint=localhost:29500   # with nnodes > 1: host:port of node 0 (run the stage on every node)
train_cmd=                # cmd.sh's cuda_cmd: launcher of the training, one job per network (e.g. "blasr-slurm --gpu 2")
train_nproc=0             # training processes per node through local/slurm_torchrun.sh (a Slurm --train-cmd, any
                          # number of nodes; replaces --ngpu / --nnodes); 0: torchrun over --ngpu as above
device=                   # export device: empty = cuda when available
# decoding
tune_set=                 # empty: rt02 if given, else rt03, else train_dev
prior_scales="0.7 1.0"    # each is one export of the tune set; the best is used for the test sets
lm_weights=7:17
store_loglikes=true       # false: decode straight from the network (blasr.decode --nnet), no archives
                          # (12.8 MB per second of audio at 32k classes); true also serves Kaldi's decoders
blasr_option_names="stage stop_stage nj data exp swbd_dir swbd_transcripts fisher_dir fisher_transcripts
  eval2000_dir eval2000_transcripts rt03_dir rt02_dir train_dev_size max_duplicates kaldi_ali_dir
  kaldi_dev_ali_dir kaldi_lang kaldi_graph arpa num_leaves total_gauss mono_utterances mono_iters tri_iters
  boost_silence archs train_config epochs width ngpu nnodes rdzv_endpoint device tune_set prior_scales lm_weights store_loglikes
  cmd train_cmd train_nproc"

. ../../local/log.sh
. ../../local/stages.sh
. ../../local/parse_options.sh
. ../../local/env.sh
train_nproc_zero="torchrun over --ngpu"
. ../../local/train_line.sh
[[ $ngpu =~ ^[0-9]+$ ]] || die "--ngpu must be a whole number (0: no torchrun), not '$ngpu'"
[[ $nnodes =~ ^[1-9][0-9]*$ ]] || die "--nnodes must be a positive whole number, not '$nnodes'"
if [ "$train_nproc" -gt 0 ] && [ "$nnodes" -gt 1 ]; then
  die "--train-nproc takes its nodes from the Slurm job (--train-cmd \"blasr-slurm --num-nodes $nnodes ...\"), not --nnodes"
fi
cmd_opts=()
if [ -n "$cmd" ]; then cmd_opts=(--cmd "$cmd"); fi  # given to every program that runs jobs
# list options, split on white space only (never globbed)
read -r -d '' -a arch_list <<< "$archs" || true
read -r -d '' -a prior_scale_list <<< "$prior_scales" || true

# the sets: what stage 0 prepared decides (so later stages need no corpus options)
corpus=$data/corpus
if [ -z "$tune_set" ]; then
  if [ -n "$rt02_dir" ] || [ -f "$corpus/rt02/cuts.jsonl.gz" ]; then tune_set=rt02
  elif [ -n "$rt03_dir" ] || [ -f "$corpus/rt03/cuts.jsonl.gz" ]; then tune_set=rt03
  else tune_set=train_dev; fi
fi
test_sets=()                # eval2000 and the RT sets given (or prepared), but the tune set
for set in eval2000 rt03 rt02; do
  dir_var=${set}_dir
  if [ "$set" != "$tune_set" ] && { [ -n "${!dir_var}" ] || [ -f "$corpus/$set/cuts.jsonl.gz" ]; }; then
    test_sets+=("$set")
  fi
done
# where the alignment model (final.mdl + tree) and the decoding graph live
if [ -n "$kaldi_ali_dir" ]; then
  ali_model=$kaldi_ali_dir
  ali_producer="give --kaldi-ali-dir a Kaldi alignment directory"
  graph=${kaldi_graph:-$exp/graph}
else
  ali_model=$exp/gmm/tri
  ali_producer=2
  graph=$exp/graph
fi
if [ -n "$kaldi_graph" ]; then graph_input=("$graph/HCLG.fst" 'give --kaldi-graph a Kaldi graph directory')
else graph_input=("$graph" 2); fi
ignore=('[noise]' '[laughter]' '[vocalized-noise]' '<unk>')   # not scored in the LM-weight sweep

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: data preparation (Switchboard${fisher_dir:+ + Fisher}, eval2000, RT; Kaldi ids and text)"
  opts=()
  for name in swbd_dir swbd_transcripts fisher_dir fisher_transcripts eval2000_dir eval2000_transcripts \
      rt03_dir rt02_dir; do
    [ -n "${!name}" ] && opts+=("--${name//_/-}" "${!name}")
  done
  python -m blasr.prepare_swbd prepare --out "$corpus" ${opts[@]+"${opts[@]}"} \
    --train-dev-size "$train_dev_size" --max-duplicates "$max_duplicates"
fi

# every set once, in order: the features' sets
mapfile -t feature_sets < <(printf '%s\n' train_nodup train_dev "$tune_set" ${test_sets[@]+"${test_sets[@]}"} | awk '!seen[$0]++')

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  for set in "${feature_sets[@]}"; do needs 1 0 "$corpus/$set"; done
  log "stage 1: 64-bin log-mel features (8 kHz, snip-edges true) for ${feature_sets[*]}"
  for set in "${feature_sets[@]}"; do
    python -m blasr.features --cuts "$corpus/$set/cuts.jsonl.gz" --out "$data/fbank/$set" \
      --sample-rate 8000 --num-mel-bins 64 --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  needs 2 1 "$data/fbank/train_nodup" "$data/fbank/train_dev"
  if [ -n "$kaldi_ali_dir" ]; then
    [ -n "$kaldi_lang" ] || die "--kaldi-ali-dir needs --kaldi-lang (the lang directory of that experiment)"
    needs 2 "give --kaldi-ali-dir a Kaldi alignment directory (final.mdl, ali.*.gz)" "$kaldi_ali_dir/final.mdl"
    needs 2 "give --kaldi-lang that experiment's lang directory" "$kaldi_lang/words.txt"
    [ -n "$kaldi_graph" ] || [ -n "$arpa" ] || die "give --arpa (the LM for G.fst) or --kaldi-graph (a Kaldi HCLG directory)"
    if [ -z "$kaldi_graph" ]; then needs 2 "give --arpa an existing ARPA file" "$arpa"; fi
    log "stage 2: import Kaldi alignments $kaldi_ali_dir (joined to the cuts by call, side and time), graph"
    python -m blasr.prepare_swbd join-kaldi-alignments --cuts "$data/fbank/train_nodup/cuts.jsonl.gz" \
      --ali-dir "$kaldi_ali_dir" --lang "$kaldi_lang" --out "$exp/kaldi_ali/train_nodup"
    python -m blasr.prepare_swbd join-kaldi-alignments --cuts "$data/fbank/train_dev/cuts.jsonl.gz" \
      --ali-dir "${kaldi_dev_ali_dir:-$kaldi_ali_dir}" --lang "$kaldi_lang" --out "$exp/kaldi_ali/train_dev" \
      --allow-empty
    for set in train_nodup train_dev; do
      if [ -s "$exp/kaldi_ali/$set/pdf.scp" ]; then
        python -m blasr.targets --cuts "$data/fbank/$set/cuts.jsonl.gz" \
          --pdf-ali "scp:$exp/kaldi_ali/$set/pdf.scp" --out "$exp/targets/$set"
      else
        log "no Kaldi alignment of $set: training without a validation set"; rm -rf "$exp/targets/$set"
      fi
    done
    if [ -z "$kaldi_graph" ]; then
      python -m blasr.format_lm "$kaldi_lang" "$arpa" "$data/lang_test" --unknown-words skip
      python -m blasr.mkgraph "$data/lang_test" "$kaldi_ali_dir" "$graph"
    fi
  else
    [ -n "$arpa" ] || die "give --arpa (the LM for G.fst)"
    needs 2 "give --arpa an existing ARPA file" "$arpa"
    needs 2 0 "$corpus/dict/lexicon.txt"
    log "stage 2: lang, GMM mono -> tri ($num_leaves leaves), alignments, targets, graph"
    python -m blasr.prepare_lang "$corpus/dict" "$data/lang" --oov '<unk>' --arpa "$arpa" --unknown-lm-words skip
    python -m blasr.gmm train --data "$data/fbank/train_nodup/cuts.jsonl.gz" --lang "$data/lang" --exp "$exp/gmm" \
      --mono-utterances "$mono_utterances" --mono-iters "$mono_iters" --tri-iters "$tri_iters" \
      --num-leaves "$num_leaves" --total-gauss "$total_gauss" --boost-silence "$boost_silence" --map-oov \
      --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
    python -m blasr.gmm align --model "$exp/gmm/tri" --data "$data/fbank/train_dev/cuts.jsonl.gz" \
      --lang "$data/lang" --out "$exp/gmm/tri_ali_dev" --boost-silence "$boost_silence" --map-oov --nj "$nj" \
      ${cmd_opts[@]+"${cmd_opts[@]}"}
    python -m blasr.targets --cuts "$data/fbank/train_nodup/cuts.jsonl.gz" --ali-dir "$exp/gmm/tri_ali" \
      --out "$exp/targets/train_nodup"
    python -m blasr.targets --cuts "$data/fbank/train_dev/cuts.jsonl.gz" --ali-dir "$exp/gmm/tri_ali_dev" \
      --out "$exp/targets/train_dev"
    python -m blasr.mkgraph "$data/lang" "$exp/gmm/tri" "$graph"
  fi
fi

overrides=()
[ -n "$epochs" ] && overrides+=(--epochs "$epochs")
[ -n "$width" ] && overrides+=(--width "$width")
if [ "$ngpu" -gt 0 ] && [ "$nnodes" -gt 1 ]; then
  train=(torchrun --nnodes "$nnodes" --nproc-per-node "$ngpu" --rdzv-backend c10d --rdzv-endpoint "$rdzv_endpoint"
         --rdzv-id blasr-swbd -m blasr.train)
elif [ "$ngpu" -gt 0 ]; then
  train=(torchrun --standalone --nproc-per-node "$ngpu" -m blasr.train)
else
  train=(python -m blasr.train)
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  needs 3 "give --train-config an existing file" "$train_config"
  needs 3 2 "$exp/targets/train_nodup/num_pdfs"
  valid=()
  if [ -e "$exp/targets/train_dev" ]; then  # none when Kaldi aligned no train_dev utterance
    needs 3 2 "$exp/targets/train_dev/num_pdfs"
    valid=(--valid-data "$exp/targets/train_dev/cuts.jsonl.gz")
  fi
  for arch in "${arch_list[@]}"; do
    train_line "$exp/$arch/log/train.log" "${train[@]}"
    log "stage 3: train $arch (${train_program[*]}${train_cmd:+ through $train_cmd, log $exp/$arch/log/train.log};" \
      "$train_config; resumes from its newest checkpoint)"
    "${train_line[@]}" --arch "$arch" --config "$train_config" ${overrides[@]+"${overrides[@]}"} \
      --data "$exp/targets/train_nodup/cuts.jsonl.gz" ${valid[@]+"${valid[@]}"} \
      --exp "$exp/$arch" --resume auto
  done
fi

export_opts=()
[ -n "$device" ] && export_opts=(--device "$device")

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  needs 4 "$ali_producer" "$ali_model/final.mdl"
  needs 4 "${graph_input[1]}" "${graph_input[0]}"
  needs 4 0 "$corpus/$tune_set/text"
  for set in "$tune_set" ${test_sets[@]+"${test_sets[@]}"}; do needs 4 1 "$data/fbank/$set"; done
  for arch in "${arch_list[@]}"; do needs 4 3 "$exp/$arch/final.pt"; done
  for arch in "${arch_list[@]}"; do
    log "stage 4: export $arch; prior scale from {${prior_scale_list[*]}} on $tune_set, then ${test_sets[*]-}"
    dirs=()
    for ps in "${prior_scale_list[@]}"; do
      if $store_loglikes; then
        python -m blasr.export --model "$exp/$arch/final.pt" --data "$data/fbank/$tune_set/cuts.jsonl.gz" \
          --out "$exp/$arch/loglikes_${tune_set}_ps$ps" --prior-scale "$ps" ${export_opts[@]+"${export_opts[@]}"} \
          --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
        scores=(--loglikes "scp:$exp/$arch/loglikes_${tune_set}_ps$ps/loglikes.scp")
      else
        scores=(--nnet "$exp/$arch/final.pt" --data "$data/fbank/$tune_set/cuts.jsonl.gz" --prior-scale "$ps"
          ${export_opts[@]+"${export_opts[@]}"})
      fi
      python -m blasr.decode --graph "$graph" --model "$ali_model/final.mdl" "${scores[@]}" \
        --text "$corpus/$tune_set/text" --out "$exp/$arch/decode_${tune_set}_ps$ps" --sweep "$lm_weights" \
        --nj "$nj" --ignore "${ignore[@]}" ${cmd_opts[@]+"${cmd_opts[@]}"}
      dirs+=("$exp/$arch/decode_${tune_set}_ps$ps")
    done
    best=$(bash ../../local/best_wer_dir.sh "${dirs[@]}")
    ps=${best##*_ps}
    echo "$ps" > "$exp/$arch/prior_scale"
    ln -sfn "$(basename "$best")" "$exp/$arch/decode_$tune_set"
    log "$arch: prior scale $ps ($(cat "$best/best_wer"))"
    if $store_loglikes; then  # else stage 5 scores the test sets with the network itself
      for set in ${test_sets[@]+"${test_sets[@]}"}; do
        python -m blasr.export --model "$exp/$arch/final.pt" --data "$data/fbank/$set/cuts.jsonl.gz" \
          --out "$exp/$arch/loglikes_$set" --prior-scale "$ps" ${export_opts[@]+"${export_opts[@]}"} \
          --nj "$nj" ${cmd_opts[@]+"${cmd_opts[@]}"}
      done
    fi
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  needs 5 "$ali_producer" "$ali_model/final.mdl"
  needs 5 "${graph_input[1]}" "${graph_input[0]}"
  for arch in "${arch_list[@]}"; do
    needs 5 4 "$exp/$arch/prior_scale" "$exp/$arch/decode_$tune_set/best_wer"
    for set in ${test_sets[@]+"${test_sets[@]}"}; do
      needs 5 0 "$corpus/$set/text"
      if $store_loglikes; then needs 5 4 "$exp/$arch/loglikes_$set/loglikes.scp"
      else needs 5 1 "$data/fbank/$set"; fi
    done
  done
  systems=()
  for arch in "${arch_list[@]}"; do
    log "stage 5: decode and score $arch on ${test_sets[*]-} (LM weight, penalty and prior scale from $tune_set)"
    for set in ${test_sets[@]+"${test_sets[@]}"}; do
      scores=(--loglikes "scp:$exp/$arch/loglikes_$set/loglikes.scp")
      $store_loglikes || scores=(--nnet "$exp/$arch/final.pt" --data "$data/fbank/$set/cuts.jsonl.gz"
        --prior-scale "$(cat "$exp/$arch/prior_scale")" ${export_opts[@]+"${export_opts[@]}"})
      python -m blasr.decode --graph "$graph" --model "$ali_model/final.mdl" "${scores[@]}" \
        --out "$exp/$arch/decode_$set" --setting-from "$exp/$arch/decode_$tune_set" --nj "$nj" \
        ${cmd_opts[@]+"${cmd_opts[@]}"}
      refs=(--text "$corpus/$set/text")
      [ -f "$corpus/$set/stm" ] && refs=(--stm "$corpus/$set/stm")
      [ -f "$corpus/$set/glm" ] && refs+=(--glm "$corpus/$set/glm")
      subsets=()
      [ "$set" = eval2000 ] && subsets=(--subset swbd=sw_ --subset callhome=en_)
      python -m blasr.hub5 score --hyp "$exp/$arch/decode_$set/text" "${refs[@]}" \
        ${subsets[@]+"${subsets[@]}"} --out "$exp/$arch/decode_$set"
    done
    systems+=(--system "$arch=$exp/$arch")
  done
  python -m blasr.hub5 table "${systems[@]}" --set eval2000 --tune-set "$tune_set" --out "$exp/results.md"
  python -m blasr.results "${systems[@]}" --sets "$tune_set" ${test_sets[@]+"${test_sets[@]}"} \
    --out "$exp/results_all.md"
fi
log "done (stages $stage..$stop_stage)"
