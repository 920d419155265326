#!/usr/bin/env bash
# avdm stage driver shared by all datasets (run from a recipe directory such as egs/grid).
# Stages: 0 data prep | 1 lip ROIs | 2 feature dumping | 3 training | 4 inference | 5 scoring | 6 report
set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (avdm.sh:${BASH_LINENO[0]}) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SECONDS=0
# ----------------------------------------------------------------------------- options
stage=0                 # first stage to run
stop_stage=6            # last stage to run
nj=4                    # parallel jobs for stages 1, 2 and 5
inference_nj=2          # parallel jobs for stage 4
ngpu=0                  # GPUs for training / inference (0: CPU)
seed=0                  # seed of inference (training seeds live in the train configs)
data_dir=data           # Kaldi data dirs (stage 0 output)
dump_dir=dump           # dumped features (stages 1-2)
exp_dir=exp             # models, inference and scoring (stages 3-6)
train_set=train         # training set name
valid_set=dev           # validation set name
test_sets=test          # test set names (space separated); their noisy condition sets come from
                        #   data/<set>/condition_sets
train_config=""         # training config(s), space separated; each gives one model
tag=""                  # exp/<tag> for a single train_config (default: config file name)
inference_config=""     # override of the decode config of every job (default conf/decode_<job>.yaml)
inference_jobs=auto     # auto: prior models -> "generate enhance_unsup", conditional -> "enhance"
local_data_opts=""      # options passed to local/data.sh
lip_detector=dlib68     # landmark detector registry key for stage 1
lip_opts=""             # extra options of stage 1 (python -m avdm.bin.stage_lips)
audio_format=flac       # stage 2 audio format: flac or ark
train_args=""           # extra arguments for training (espnet2 options)
train_jobs=1            # models trained side by side in stage 3 (the ASR model counts as one)
frontend_config=""      # lip front-end to pretrain first in stage 3 (e.g. conf/frontend_lip_envelope.yaml;
                        #   the train configs load ${exp_dir}/lip_frontend/frontend.pth); empty: none
frontend_args=""        # extra options of the front-end pretraining (python -m avdm.bin.pretrain_frontend)
restart_training=false  # true: discard an exp/<tag> trained with another setup instead of refusing to resume it
skip_asr=false          # true: no WER (no ASR model trained or used)
asr_model=""            # an ESPnet ASR model to use for WER (exp dir or packed zip); empty: train one in stage 3
asr_config=conf/asr_ctc_lite.yaml
asr_decode_config=conf/decode_asr.yaml
score_opts=""           # extra options of stage 5
report_out=RESULTS.md   # stage 6 output

help_message=$(cat <<EOM
Usage: $0 [options]
  --stage N --stop_stage N   stages to run (0 data, 1 lips, 2 dump, 3 train, 4 infer, 5 score, 6 report)
  --nj N                     parallel jobs (stages 1, 2, 5; default ${nj})
  --inference_nj N           parallel jobs of stage 4 (default ${inference_nj})
  --ngpu N                   GPUs for training and inference (default ${ngpu})
  --train_config "A.yaml B.yaml"   model configs (one model each)
  --train_jobs N             models trained side by side (default ${train_jobs})
  --frontend_config X.yaml   pretrain this lip front-end first in stage 3 (exp/lip_frontend)
  --tag NAME                 experiment name for a single train config
  --restart_training true    train anew where exp/<tag> holds a training made with another config
                             (by default such a resume is refused: it would mix the two setups)
  --inference_config X.yaml  decode config for every inference job
  --train_set --valid_set --test_sets   data set names
  --local_data_opts "..."    options of local/data.sh (e.g. "--grid_root /data/GRID")
  --lip_detector KEY         dlib68 | haar (avdm-list landmark_detector)
  --audio_format flac|ark    dumped audio format
  --skip_asr true|false      skip WER (no ASR training)
  --asr_model DIR|ZIP        an existing ESPnet ASR model for WER instead of training one (espnet2
                             unpickles it: a model file can run code, give only models you trust)
  Data dirs are trusted like code: an scp entry "cmd |" is run by the shell (Kaldi's convention).
EOM
)

# shellcheck disable=SC1091
[ -f ./path.sh ] && . ./path.sh
# shellcheck disable=SC1091
[ -f ./cmd.sh ] && . ./cmd.sh
[ -n "${AVDM_ROOT:-}" ] || die "AVDM_ROOT is not set: run from a recipe directory whose path.sh sets it"
# shellcheck disable=SC1091
. "${AVDM_ROOT}/tools/parse_options.sh"
[ $# -eq 0 ] || die "unexpected argument(s): $* (see --help)"

python=${AVDM_PYTHON:-python3}

# every argument is checked before any stage runs
for v in stage stop_stage nj inference_nj ngpu train_jobs; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "--${v} must be a whole number, got '${!v}'"
done
[ "${stage}" -le 6 ] || die "--stage ${stage}: the stages are 0..6"
[ "${stage}" -le "${stop_stage}" ] || die "--stage ${stage} is after --stop_stage ${stop_stage}: nothing to run"
if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    for c in ${train_config:-conf/train_prior_lite.yaml}; do [ -f "${c}" ] || die "train config ${c} not found"; done
fi
if [ -n "${inference_config}" ] && [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    [ -f "${inference_config}" ] || die "inference config ${inference_config} not found"
fi

# the stages die with this driver, even when it is killed with -9 (avdm.launch.die_with_driver)
export AVDM_DRIVER_PID=$$
# one run at a time in an exp dir: a second one is refused while the first lives
${python} -m avdm.bin.dir_lock acquire "${exp_dir}" --pid $$ || die "not starting (see above)"
# shellcheck disable=SC2064
trap "${python} -m avdm.bin.dir_lock release '${exp_dir}' --pid $$" EXIT

stage_on() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
stage_t0=0
begin_stage() { stage_t0=${SECONDS}; log "==================== stage $1: $2 ===================="; }
end_stage() { log "stage $1 done in $(( SECONDS - stage_t0 )) s"; }
need() {  # need <stage that writes it> <paths...>
    local writer=$1; shift
    local p
    for p in "$@"; do
        [ -e "${p}" ] || die "missing ${p}: run stage ${writer} first (./run.sh --stage ${writer} --stop_stage ${writer})"
    done
}
condition_sets() {  # the noisy condition sets of a base set
    local f=${data_dir}/$1/condition_sets
    [ -f "${f}" ] && grep -v '^\s*$' "${f}" || true
}
base_sets="${train_set} ${valid_set} ${test_sets}"
eval_sets() {  # every set stage 2 dumps: base sets, the dev and test condition sets, the training noise bank
    local s
    for s in ${base_sets}; do echo "${s}"; done
    for s in ${valid_set} ${test_sets}; do condition_sets "${s}"; done  # dev ones: for tuning decoding
    [ -d "${data_dir}/noise_train" ] && echo noise_train
    return 0
}
[ -n "${train_config}" ] || train_config="conf/train_prior_lite.yaml"
model_tags() {
    local c n=0
    for c in ${train_config}; do n=$((n + 1)); done
    for c in ${train_config}; do
        if [ -n "${tag}" ] && [ ${n} -eq 1 ]; then echo "${tag}"; else basename "${c}" .yaml; fi
    done
}
config_of_tag() {
    local c
    for c in ${train_config}; do
        if [ -n "${tag}" ] || [ "$(basename "${c}" .yaml)" = "$1" ]; then echo "${c}"; return; fi
    done
}

# jobs side by side (stages 2 and 3): "pid:name" entries of `running`; collect waits for them all
# and adds the names of the failed ones to `failed`
running=(); failed=""
collect() {
    local r
    for r in "${running[@]}"; do wait "${r%%:*}" || failed="${failed} ${r#*:}"; done
    running=()
}
# wait_for_slot N: return once fewer than N jobs of `running` are still running (a finished job's
# slot is reused at once, so a short job does not wait for the long one started beside it)
wait_for_slot() {
    local r still
    while [ ${#running[@]} -ge "$1" ]; do
        still=()
        for r in "${running[@]}"; do
            if kill -0 "${r%%:*}" 2>/dev/null; then
                still+=("${r}")
            else
                wait "${r%%:*}" || failed="${failed} ${r#*:}"
            fi
        done
        running=("${still[@]+"${still[@]}"}")
        [ ${#running[@]} -lt "$1" ] || sleep 1
    done
}

# ----------------------------------------------------------------------------- stage 0
if stage_on 0; then
    begin_stage 0 "data preparation"
    [ -x local/data.sh ] || die "local/data.sh not found in $(pwd)"
    # shellcheck disable=SC2086
    local/data.sh --out "${data_dir}" ${local_data_opts}
    for s in ${base_sets}; do need 0 "${data_dir}/${s}/wav.scp" "${data_dir}/${s}/video.scp"; done
    end_stage 0
fi

# ----------------------------------------------------------------------------- stage 1
if stage_on 1; then
    begin_stage 1 "lip ROI extraction (${lip_detector})"
    for s in ${base_sets}; do
        need 0 "${data_dir}/${s}/video.scp"
        # shellcheck disable=SC2086
        ${python} -m avdm.bin.stage_lips --data_dir "${data_dir}/${s}" --out_dir "${dump_dir}/lip/${s}" \
            --nj "${nj}" --detector "${lip_detector}" ${lip_opts}
    done
    end_stage 1
fi

# ----------------------------------------------------------------------------- stage 2
if stage_on 2; then
    begin_stage 2 "feature dumping (${audio_format})"
    # the sets are dumped side by side, ${nj} at a time, the next starting as soon as any finishes
    # (most are small: process start dominates); a failed set is reported by name after the others
    # have finished
    running=(); failed=""
    for s in $(eval_sets); do
        need 0 "${data_dir}/${s}/wav.scp"
        opts=""
        if [ "${s}" != noise_train ]; then
            base=${s}
            [ -f "${data_dir}/${s}/base_set" ] && base=$(cat "${data_dir}/${s}/base_set")
            need 1 "${dump_dir}/lip/${base}/lip.scp"
            opts="--lip_dir ${dump_dir}/lip/${base}"
        fi
        [ "${s}" = "${train_set}" ] && opts="${opts} --write_stats"
        # shellcheck disable=SC2086
        ${python} -m avdm.bin.stage_dump --data_dir "${data_dir}/${s}" --out_dir "${dump_dir}/raw/${s}" \
            --nj "${nj}" --audio_format "${audio_format}" ${opts} &
        running+=("$!:${s}")
        wait_for_slot "${nj}"
    done
    [ ${#running[@]} -eq 0 ] || collect
    [ -z "${failed}" ] || die "dumping failed for:${failed} (see the messages above; rerun stage 2)"
    end_stage 2
fi

# ----------------------------------------------------------------------------- stage 3
if stage_on 3; then
    begin_stage 3 "training"
    need 2 "${dump_dir}/raw/${train_set}/wav.scp" "${dump_dir}/raw/${valid_set}/wav.scp"
    # up to ${train_jobs} models train side by side (each on one BLAS thread, see path.sh), the
    # next one starting as soon as any finishes; a failed model is reported by name after the
    # others have finished
    if [ -n "${frontend_config}" ]; then
        [ -f "${frontend_config}" ] || die "front-end config ${frontend_config} not found"
        log "pretraining the lip front-end from ${frontend_config} -> ${exp_dir}/lip_frontend"
        # shellcheck disable=SC2086
        OMP_NUM_THREADS=${nj} ${python} -m avdm.bin.pretrain_frontend --config "${frontend_config}" \
            --dump_dir "${dump_dir}/raw" --train_set "${train_set}" --probe_sets "${valid_set} ${test_sets}" \
            --exp_dir "${exp_dir}/lip_frontend" ${frontend_args} || die "lip front-end pretraining failed"
    fi
    running=(); failed=""
    for t in $(model_tags); do
        c=$(config_of_tag "${t}")
        [ -f "${c}" ] || die "train config ${c} not found"
        log "training ${t} from ${c} -> ${exp_dir}/${t} (log: ${exp_dir}/${t}/train.log)"
        # shellcheck disable=SC2086
        ${python} -m avdm.bin.stage_train --config "${c}" --dump_dir "${dump_dir}/raw" \
            --train_set "${train_set}" --valid_set "${valid_set}" --exp_dir "${exp_dir}/${t}" \
            --ngpu "${ngpu}" --restart "${restart_training}" ${frontend_config:+--frontend "${exp_dir}/lip_frontend/frontend.pth"} ${train_args} &
        running+=("$!:${t}")
        wait_for_slot "${train_jobs}"
    done
    if ! ${skip_asr} && [ -z "${asr_model}" ]; then
        log "training the ASR model for WER -> ${exp_dir}/asr (log: ${exp_dir}/asr/train.log)"
        ${python} -m avdm.bin.train_asr --config "${asr_config}" --dump_dir "${dump_dir}/raw" \
            --train_set "${train_set}" --valid_set "${valid_set}" --exp_dir "${exp_dir}/asr" --ngpu "${ngpu}" &
        running+=("$!:asr")
    fi
    [ ${#running[@]} -eq 0 ] || collect
    [ -z "${failed}" ] || die "training failed for:${failed} (see ${exp_dir}/<name>/train.log; rerun stage 3 to resume)"
    end_stage 3
fi

# ----------------------------------------------------------------------------- stage 4
if stage_on 4; then
    begin_stage 4 "inference"
    for t in $(model_tags); do
        need 3 "${exp_dir}/${t}/config.yaml"
        # one line per job: "<job> <base|condition> <decode config file>" (avdm.inference.job_list)
        jobs=$(${python} -m avdm.bin.model_jobs "${exp_dir}/${t}/config.yaml" --jobs "${inference_jobs}") \
            || die "no inference jobs for ${t} (see above)"
        while read -r job inputs dconf_name <&3; do
            [ -n "${job}" ] || continue
            dconf=${inference_config:-conf/${dconf_name}}
            [ -f "${dconf}" ] || die "inference config ${dconf} not found"
            if [ "${inputs}" = base ]; then sets=${test_sets}; else
                sets=$(for s in ${test_sets}; do condition_sets "${s}"; done)
            fi
            ins=""; outs=""
            for s in ${sets}; do
                need 2 "${dump_dir}/raw/${s}/wav.scp"
                ins="${ins:+${ins},}${dump_dir}/raw/${s}"; outs="${outs:+${outs},}${exp_dir}/${t}/${job}_${s}"
            done
            [ -n "${ins}" ] || die "no sets for ${job}: run stage 0 (condition sets come from data/<test>/condition_sets)"
            log "${job}: ${t} on $(echo ${sets} | wc -w) set(s) (${dconf})"
            ${python} -m avdm.bin.stage_infer --job "${job}" --model_dir "${exp_dir}/${t}" \
                --data_dir "${ins}" --out_dir "${outs}" \
                --inference_config "${dconf}" --nj "${inference_nj}" --ngpu "${ngpu}" --seed "${seed}"
        done 3<<< "${jobs}"
    done
    end_stage 4
fi

# ----------------------------------------------------------------------------- stage 5
if stage_on 5; then
    begin_stage 5 "scoring"
    asr_opt=""
    if ! ${skip_asr}; then
        am=${asr_model:-${exp_dir}/asr}
        need 3 "${am}"
        asr_opt="--asr_model ${am} --asr_decode_conf ${asr_decode_config}"
        # the ASR's own error rate on the clean references, for every test set
        refs=""; infs=""
        for s in ${test_sets}; do
            refs="${refs:+${refs},}${dump_dir}/raw/${s}"; infs="${infs:+${infs},}${exp_dir}/reference/${s}"
        done
        # shellcheck disable=SC2086
        ${python} -m avdm.bin.stage_score --ref_dir "${refs}" --inf_dir "${infs}" --clean_input --nj "${nj}" \
            ${asr_opt} ${score_opts}
    fi
    # the noisy input is a system of its own; all pairs of a kind are scored in one process
    refs=""; infs=""
    for s in ${test_sets}; do
        for c in $(condition_sets "${s}"); do
            need 2 "${dump_dir}/raw/${c}/noisy.scp"
            refs="${refs:+${refs},}${dump_dir}/raw/${c}"; infs="${infs:+${infs},}${exp_dir}/noisy_input/${c}"
        done
    done
    if [ -n "${refs}" ]; then
        # shellcheck disable=SC2086
        ${python} -m avdm.bin.stage_score --ref_dir "${refs}" --inf_dir "${infs}" --noisy_input \
            --nj "${nj}" ${asr_opt} ${score_opts}
    fi
    found=0; refs=""; infs=""
    for t in $(model_tags); do
        # "<set> <dir>" for each stage-4 output of the model (avdm.inference.job_list)
        outputs=$(${python} -m avdm.bin.model_jobs --outputs "${exp_dir}/${t}") || die "cannot list ${exp_dir}/${t}"
        while read -r s d <&3; do
            [ -n "${d}" ] || continue
            found=1
            refs="${refs:+${refs},}${dump_dir}/raw/${s}"; infs="${infs:+${infs},}${d}"
        done 3<<< "${outputs}"
    done
    if [ ${found} -eq 1 ]; then
        # shellcheck disable=SC2086
        ${python} -m avdm.bin.stage_score --ref_dir "${refs}" --inf_dir "${infs}" --nj "${nj}" ${asr_opt} ${score_opts}
    fi
    [ ${found} -eq 1 ] || die "no inference output under ${exp_dir}/<tag>/: run stage 4 first"
    end_stage 5
fi

# ----------------------------------------------------------------------------- stage 6
if stage_on 6; then
    begin_stage 6 "report"
    ${python} -m avdm.bin.report --exp_dir "${exp_dir}" --dump_dir "${dump_dir}/raw" --data_dir "${data_dir}" \
        --out "${report_out}"
    log "wrote $(pwd)/${report_out}"
    end_stage 6
fi

log "all requested stages (${stage}..${stop_stage}) finished in ${SECONDS} s"
