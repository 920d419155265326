#!/usr/bin/env bash
# Option parsing for recipe scripts, in the Kaldi parse_options.sh style (written for avdm).
#
# Source it after defining the variables that may be set from the command line:
#     stage=0; nj=4
#     . tools/parse_options.sh
# Then `--stage 3`, `--stage=3` and `--inference-nj 2` (dashes become underscores) set the
# variables of the same name.  An option whose variable is not defined is an error; `--help`
# prints ${help_message} and exits.  Parsing stops at the first argument that is not an option
# (or after `--`); those arguments stay in "$@".

while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h)
            printf '%s\n' "${help_message:-no help for $0}"
            exit 0 ;;
        --)
            shift
            break ;;
        --*=*)
            _po_name=${1%%=*}; _po_value=${1#*=}; shift ;;
        --*)
            _po_name=$1
            if [ $# -lt 2 ]; then
                echo "$0: option $1 needs a value" >&2
                exit 1
            fi
            _po_value=$2; shift 2 ;;
        *)
            break ;;
    esac
    _po_name=${_po_name#--}
    _po_name=${_po_name//-/_}
    if ! [[ ${_po_name} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        echo "$0: invalid option name --${_po_name}" >&2
        exit 1
    fi
    if [ -z "${!_po_name+set}" ]; then
        echo "$0: unknown option --${_po_name} (see $0 --help)" >&2
        exit 1
    fi
    # keep booleans honest: a variable that was true/false only accepts true/false
    _po_old=${!_po_name}
    if { [ "${_po_old}" = true ] || [ "${_po_old}" = false ]; } \
            && [ "${_po_value}" != true ] && [ "${_po_value}" != false ]; then
        echo "$0: option --${_po_name} takes true or false, got '${_po_value}'" >&2
        exit 1
    fi
    printf -v "${_po_name}" '%s' "${_po_value}"
done
unset _po_name _po_value _po_old
true
