#!/usr/bin/env bash
# Train two configs (an AV model and its audio-only twin) with several seeds, decode and score every
# seed on the dev condition sets, and compare the two over the seeds (python -m avdm.bench.seed_spread):
# does their difference exceed what another seed moves?  Dev sets only, never test.
#
#   tools/bench/seeds_dev.sh <config_a.yaml> <config_b.yaml> <out_dir> [--seeds "0 1 2"] [--job enhance]
#                            [--decode conf/decode_enhance.yaml]
#
# Run from a recipe dir (egs/grid) after stage 2, with its path.sh sourced.  Only `seed:` differs
# from the configs given.  For each seed the two trainings run side by side, one thread each (about
# 8-9 minutes per seed for the demo configs on 2 cores); a seed whose model dir already holds
# valid.loss.ave.pth is not trained again, so a rerun after an interruption resumes.  Writes
# <out_dir>/<config>_seed<N>/ (models), <out_dir>/dev_<config>_seed<N>/ (decoded and scored dev sets),
# <out_dir>/dev_noisy/, and <out_dir>/seeds.{json,md}.

set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,14p' "$0" >&2
    exit 2
fi
conf_a=$1; conf_b=$2; out=$3; shift 3
seeds="0 1 2"; job=enhance; decode=conf/decode_enhance.yaml
while [ $# -gt 0 ]; do
    case $1 in
        --seeds) seeds=$2; shift 2 ;;
        --job) job=$2; shift 2 ;;
        --decode) decode=$2; shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 2 ;;
    esac
done
for c in "${conf_a}" "${conf_b}" "${decode}"; do
    [ -f "${c}" ] || { echo "$0: ${c} not found" >&2; exit 1; }
done
for c in "${conf_a}" "${conf_b}"; do
    grep -q '^seed: ' "${c}" || { echo "$0: ${c} has no top-level 'seed:' line to vary" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "${out}"
name_a=$(basename "${conf_a}" .yaml); name_b=$(basename "${conf_b}" .yaml)

train() {  # <config> <seed>: the model dir of that seed, trained unless already finished
    local conf=$1 seed=$2 tag
    tag=${out}/$(basename "${conf}" .yaml)_seed${seed}
    if [ -f "${tag}/valid.loss.ave.pth" ]; then
        echo "$0: ${tag} already trained" >&2
        return 0
    fi
    sed "s/^seed: .*/seed: ${seed}/" "${conf}" > "${tag}.yaml"
    OMP_NUM_THREADS=1 python -m avdm.bin.stage_train --config "${tag}.yaml" --exp_dir "${tag}" \
        --dump_dir dump/raw --train_set train --valid_set dev > "${tag}.train.log" 2>&1 \
        || { echo "$0: training ${tag} failed, see ${tag}.train.log" >&2; return 1; }
}

dirs_a=""; dirs_b=""
for seed in ${seeds}; do
    echo "$0: seed ${seed}: training ${name_a} and ${name_b} side by side" >&2
    train "${conf_a}" "${seed}" & pid_a=$!
    train "${conf_b}" "${seed}" & pid_b=$!
    rc=0; wait "${pid_a}" || rc=1; wait "${pid_b}" || rc=1
    [ "${rc}" -eq 0 ] || { echo "$0: training of seed ${seed} failed" >&2; exit 1; }
    for name in "${name_a}" "${name_b}"; do
        scored=${out}/dev_${name}_seed${seed}
        if [ -f "${scored}/scoring/utt2estoi" ]; then
            echo "$0: ${scored} already scored" >&2
        else
            "${here}/score_dev.sh" "${out}/${name}_seed${seed}" "${job}" "${decode}" "${scored}"
        fi
    done
    dirs_a="${dirs_a:+${dirs_a},}${out}/dev_${name_a}_seed${seed}"
    dirs_b="${dirs_b:+${dirs_b},}${out}/dev_${name_b}_seed${seed}"
done
[ -f "${out}/dev_noisy/scoring/utt2estoi" ] || "${here}/score_dev.sh" noisy - - "${out}/dev_noisy"
python -m avdm.bench.seed_spread --system "${name_a}=${dirs_a}" --system "${name_b}=${dirs_b}" \
    --noisy "${out}/dev_noisy" --out "${out}/seeds.json" | tee "${out}/seeds.md"
