#!/usr/bin/env bash
# Stage 0 of the GRID recipe: Kaldi data dirs from the GRID corpus, or from the embedded
# mini-GRID (generated here when no --grid_root is given), plus noisy dev/test condition sets.
set -euo pipefail

grid_root=""        # GRID as distributed; empty: generate the mini-GRID
size=demo           # mini-GRID size: tiny | demo | bench
seed=0
snrs="-10 -5 0 5"   # SNRs (dB) of the noisy dev/test sets (seen and held-out noise types)
talker_snrs="-5 0"  # SNRs (dB) of the competing-talker dev/test sets (another speaker of the same set)
dev_speakers=""     # comma-separated; default: speaker-disjoint ~10% / ~10%
test_speakers=""
max_test_utts=""    # cap on test utterances (default: all for a real corpus, 10 for the demo mini-GRID)
max_dev_cond_utts="" # cap on the utterances of each dev condition set (default: all; 30 for the demo)
out=data
nj=2
help_message="Usage: $0 [--grid_root DIR] [--size tiny|demo|bench] [--seed N] [--snrs \"-10 -5 0 5\"] [--talker_snrs \"-5 0\"] [--out data]"

[ -f ./path.sh ] && . ./path.sh
. "${AVDM_ROOT}/tools/parse_options.sh"
python=${AVDM_PYTHON:-python3}

corpus="GRID (${grid_root})"
if [ -z "${grid_root}" ]; then
    corpus="mini-GRID (synthetic, --size ${size} --seed ${seed})"  # the CLIs warn about models trained on it
    if [ -z "${max_test_utts}" ]; then
        case "${size}" in tiny) max_test_utts=2 ;; demo) max_test_utts=10 ;; *) max_test_utts=0 ;; esac
    fi
    if [ -z "${max_dev_cond_utts}" ]; then
        case "${size}" in demo) max_dev_cond_utts=30 ;; *) max_dev_cond_utts=0 ;; esac
    fi
    grid_root=downloads/minigrid_${size}_seed${seed}
    if [ -f "${grid_root}/minigrid.json" ]; then
        echo "$0: using the mini-GRID already generated in ${grid_root}" >&2
    else
        echo "$0: no GRID root given: generating the mini-GRID (${size}) in ${grid_root}" >&2
        ${python} -m avdm.bin.minigrid --out "${grid_root}" --size "${size}" --seed "${seed}" --nj "${nj}"
    fi
fi

${python} -m avdm.bin.prepare_grid --grid_root "${grid_root}" --out "${out}" --seed "${seed}" \
    --snrs "${snrs}" --talker_snrs "${talker_snrs}" --max_dev_cond_utts "${max_dev_cond_utts:-0}" --max_test_utts "${max_test_utts:-0}" --dev_speakers "${dev_speakers}" --test_speakers "${test_speakers}" --nj "${nj}"
# the corpus of every set travels with it to the models (stage 2 -> stage 3 -> avdm-pack)
for d in "${out}"/*/; do
    [ -f "${d}wav.scp" ] && echo "${corpus}" > "${d}corpus"
done
exit 0
