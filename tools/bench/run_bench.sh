#!/usr/bin/env bash
# The full avdm benchmark (issue 8): the bench-size mini-GRID, four models trained with one stated
# budget, then `avdm-bench all` -> <exp>/bench/{nfe,rtf,visual,peer,throughput,train_speed}.json + summary.md.
#
#   tools/bench/run_bench.sh [--max_epoch 20] [--num_iters_per_epoch 100] [--threads 2] [--ngpu 0]
#                            [--max_utts 10] [--skip ""] [--stage 0] [--stop_stage 2] [--recipe_stage 0]
#
# Stage 0: recipe stages 0-3 in egs/grid on the bench-size mini-GRID (12 speakers x 220 utterances,
#          2.2 h; local/data.sh --size bench), in their own dirs (data_bench, dump_bench, exp_bench)
#          so the demo run's data/dump/exp are left alone.  The four models (lip-conditioned prior,
#          conditional AV model, and the audio-only twin of each) all train with the same budget:
#          --max_epoch x --num_iters_per_epoch steps (default 20 x 100 = 2000 steps of batch 6 x 1 s
#          crops, as in conf/train_*_lite.yaml: 3.3 h of audio seen per model), passed to espnet2 as
#          --train_args.  Every benchmark file records the budget from each model's config.yaml.
#          --recipe_stage 3 starts at the recipe's training stage: after an interruption, training
#          resumes from each model's last finished epoch without redoing the data (40 min).
# Stage 1: avdm-bench all on the held-out test conditions (unseen speaker, noise types brown,
#          babble, modulated at -5/0/5 dB), --max_utts utterances per set.  It trains the peer
#          (espnet2's SGMSE+, conf/bench/peer_sgmse.yaml) with the budget of exp_bench/train_cond_lite.
#          The guidance sweep runs on the dev set, never on the test set.  --skip peer leaves the
#          peer out (about 4x the CPU time of the rest); a later run with
#          --skip nfe,rtf,visual,throughput,train_speed --stage 1 adds it (its training resumes where it
#          stopped).
# Stage 2: avdm-bench summary (rewrites summary.md from the JSON files; measures nothing).
#
# Speed figures are measured side by side in one run on this machine: CPU with --threads threads,
# and the GPU too when torch sees one.  Run it on an otherwise idle machine.
set -euo pipefail

max_epoch=20
num_iters_per_epoch=100
threads=2
ngpu=0
max_utts=10
skip=""
recipe_stage=0
stage=0
stop_stage=2
nj=2
# shellcheck disable=SC1091
. "$(dirname "$0")/options.sh"  # --help, options, cd egs/grid, path.sh
data=data_bench; dump=dump_bench; exp=exp_bench
budget="--max_epoch ${max_epoch} --num_iters_per_epoch ${num_iters_per_epoch}"
train_config="conf/train_prior_lite.yaml conf/train_prior_lite_audioonly.yaml \
conf/train_cond_lite.yaml conf/train_cond_lite_audioonly.yaml"
log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run_bench.sh) $*" >&2; }

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    log "recipe stages 0-3 on the bench-size mini-GRID; training budget: ${budget} (espnet2 options)"
    ../TEMPLATE/avdm.sh --stage "${recipe_stage}" --stop_stage 3 --nj "${nj}" --ngpu "${ngpu}" \
        --data_dir "${data}" --dump_dir "${dump}" --exp_dir "${exp}" \
        --local_data_opts "--size bench" --skip_asr true --frontend_config conf/frontend_lip_envelope.yaml \
        --train_config "${train_config}" --train_args "${budget}" --train_jobs 2
fi

tests=""
for snr in -10 -5 0 5; do tests="${tests:+${tests},}${dump}/raw/test_snr${snr}_heldout"; done
# the competing-talker sets: AV versus audio-only, and the true lips against another utterance's
for snr in -5 0; do tests="${tests},${dump}/raw/test_snr${snr}_talker"; done

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    device=cpu
    [ "${ngpu}" -gt 0 ] && device=cuda
    log "avdm-bench all -> ${exp}/bench (threads ${threads}, device ${device}, ${max_utts} utterances per set)"
    OMP_NUM_THREADS=${threads} avdm-bench all --out "${exp}/bench" --threads "${threads}" --device "${device}" \
        --max_utts "${max_utts}" --data_dir "${tests}" \
        --cond_model "${exp}/train_cond_lite" --cond_ao_model "${exp}/train_cond_lite_audioonly" \
        --prior_model "${exp}/train_prior_lite" --prior_ao_model "${exp}/train_prior_lite_audioonly" \
        --generate_data_dir "${dump}/raw/test" --sweep_data_dir "${dump}/raw/dev" \
        --rtf_models conf/train_cond_lite.yaml,conf/train_cond_full.yaml \
        --peer_config conf/bench/peer_sgmse.yaml --peer_exp "${exp}/peer_sgmse" --ngpu "${ngpu}" \
        --dump_dir "${dump}/raw" --train_set train --valid_set dev --noise_set noise_train \
        --video_scp "${data}/test/video.scp" --dump_data_dir "${data}/test_snr0_heldout" \
        --dump_lip_dir "${dump}/lip/test" --skip "${skip}" || log "some benchmark failed (see above); the summary marks it"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    avdm-bench summary --out "${exp}/bench"
    log "done: egs/grid/${exp}/bench/summary.md"
fi
