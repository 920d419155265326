#!/usr/bin/env bash
# avdm against espnet2's SGMSE+ at equal training wall-clock (issue 26), on the demo mini-GRID with
# 30 test utterances per condition; writes egs/grid/exp_peer/bench_<peer config>/{peer.json,summary.md}.
#
#   tools/bench/peer_wall_clock.sh [--peer_config conf/bench/peer_sgmse.yaml] [--sets heldout,talker]
#                                  [--threads 2] [--stage 0] [--stop_stage 2]
#
# Stage 0: recipe stages 0-2 in egs/grid into their own dirs (data_peer, dump_peer, exp_peer): the
#          demo mini-GRID with --max_test_utts 30 (the demo's test speakers and conditions).
# Stage 1: recipe stage 3, alone on the machine with --threads threads: the lip front-end, then the
#          demo's AV model (conf/train_cond_lite.yaml).  Their logged training seconds are avdm's
#          wall-clock.
# Stage 2: avdm-bench peer --peer_budget wall_clock: the peer (--peer_config; peer_sgmse.yaml is
#          NCSN++ at avdm's size, peer_sgmse_full.yaml SGMSE+'s own) trains as many steps as fit in
#          that time at the AV model's precision, then both decode the --sets conditions (heldout:
#          held-out noise at -10/-5/0/5 dB; talker: competing talker at -5/0 dB; seen: seen noise
#          types), the peer with its 60-NFE PC sampler.  The peer's scores are kept per utterance:
#          rerun the stage to resume an interrupted run, or with more --sets to add conditions.
# Run it on an otherwise idle machine: the wall-clock budget is measured, not configured.
set -euo pipefail

peer_config=conf/bench/peer_sgmse.yaml
sets=talker,heldout
threads=2
stage=0
stop_stage=2
nj=2
# shellcheck disable=SC1091
. "$(dirname "$0")/options.sh"  # --help, options, cd egs/grid, path.sh
data=data_peer; dump=dump_peer; exp=exp_peer
name=$(basename "${peer_config}" .yaml)
peer_exp=${exp}/${name}; out=${exp}/bench_${name}
log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (peer_wall_clock.sh) $*" >&2; }
recipe() {
    ../TEMPLATE/avdm.sh --nj "${nj}" --data_dir "${data}" --dump_dir "${dump}" --exp_dir "${exp}" \
        --local_data_opts "--size demo --max_test_utts 30" --skip_asr true \
        --frontend_config conf/frontend_lip_envelope.yaml --train_config conf/train_cond_lite.yaml --train_jobs 1 "$@"
}

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    log "recipe stages 0-2 -> ${data}, ${dump} (30 test utterances per condition)"
    recipe --stage 0 --stop_stage 2
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "recipe stage 3 alone on ${threads} threads: lip front-end and AV model -> ${exp}"
    OMP_NUM_THREADS=${threads} recipe --stage 3 --stop_stage 3 --nj "${threads}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    dirs=""
    for kind in ${sets//,/ }; do
        case "${kind}" in
            talker) names="test_snr0_talker test_snr-5_talker" ;;
            heldout) names="test_snr-10_heldout test_snr-5_heldout test_snr0_heldout test_snr5_heldout" ;;
            seen) names="test_snr-10_seen test_snr-5_seen test_snr0_seen test_snr5_seen" ;;
            *) echo "$0: unknown --sets entry '${kind}' (talker, heldout, seen)" >&2; exit 1 ;;
        esac
        for n in ${names}; do dirs="${dirs:+${dirs},}${dump}/raw/${n}"; done
    done
    train_opt="--peer_budget wall_clock"
    # a trained peer is reused (its scores resume); delete ${peer_exp} to train it again
    [ -f "${peer_exp}/wall_clock_budget.json" ] && [ -f "${peer_exp}/valid.loss.best.pth" ] && train_opt="${train_opt} --peer_skip_train"
    log "avdm-bench peer (${peer_config}, ${sets}) -> ${out}"
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=${threads} avdm-bench peer --out "${out}" --threads "${threads}" --max_utts 30 \
        --data_dir "${dirs}" --cond_model "${exp}/train_cond_lite" --peer_config "${peer_config}" \
        --peer_exp "${peer_exp}" --dump_dir "${dump}/raw" ${train_opt}
    avdm-bench summary --out "${out}"
fi
