#!/usr/bin/env bash
# Decode every dev condition set with one model and one decode config, and score them pooled:
# the dev numbers docs/experiments.md compares decode and training options by (never the test sets).
#
#   tools/bench/score_dev.sh <model_dir> <job> <decode.yaml> <out_dir> [--nj 2]
#   tools/bench/score_dev.sh noisy - - <out_dir>      (the noisy input itself, the line to beat)
#
# Run from a recipe dir (egs/grid) after stage 2, with its path.sh sourced.  <job> is enhance or
# enhance_unsup.  Writes <out_dir>/<dev set>/wav.scp (decoded speech), <out_dir>/{ref,inf}.scp
# (keys prefixed by the set name) and <out_dir>/scoring/ (avdm-score: per utterance and pooled
# means with 95% intervals), and prints the pooled PESQ-WB, STOI, ESTOI and SI-SDR.  The model dir
# is left as it was (the recipe's decode config beside the model is not replaced).

set -euo pipefail

if [ $# -lt 4 ]; then
    sed -n '2,12p' "$0" >&2
    exit 2
fi
model=$1; job=$2; config=$3; out=$4; shift 4
nj=2
while [ $# -gt 0 ]; do
    case $1 in
        --nj) nj=$2; shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "${model}" = noisy ] || [ -f "${config}" ] || { echo "$0: decode config ${config} not found" >&2; exit 1; }
sets=$(ls -d dump/raw/dev_snr* 2>/dev/null | xargs -r -n1 basename)
[ -n "${sets}" ] || { echo "$0: no dump/raw/dev_snr* here (run stage 2 first, from the recipe dir)" >&2; exit 1; }

ins=""; outs=""
for s in ${sets}; do ins="${ins:+${ins},}dump/raw/${s}"; outs="${outs:+${outs},}${out}/${s}"; done
mkdir -p "${out}"
[ "${model}" = noisy ] || python -m avdm.bin.stage_infer --job "${job}" --model_dir "${model}" --data_dir "${ins}" \
    --out_dir "${outs}" --inference_config "${config}" --nj "${nj}" --probe > "${out}/infer.log" 2>&1 \
    || { echo "$0: decoding failed, see ${out}/infer.log" >&2; exit 1; }
: > "${out}/ref.scp"; : > "${out}/inf.scp"
for s in ${sets}; do
    sed "s/^/${s}__/" "dump/raw/${s}/wav.scp" >> "${out}/ref.scp"
    if [ "${model}" = noisy ]; then
        sed "s/^/${s}__/" "dump/raw/${s}/noisy.scp" >> "${out}/inf.scp"
    else
        sed "s/^/${s}__/" "${out}/${s}/wav.scp" >> "${out}/inf.scp"
    fi
done
avdm-score --ref "${out}/ref.scp" --inf "${out}/inf.scp" --out_dir "${out}/scoring" --nj "${nj}" \
    > "${out}/score.log" 2>&1 || { echo "$0: scoring failed, see ${out}/score.log" >&2; exit 1; }
echo -n "${model} ${config}:"
for m in pesq_wb stoi estoi sisdr; do echo -n " ${m} $(cut -d' ' -f2 "${out}/scoring/result_${m}.txt")"; done
echo
