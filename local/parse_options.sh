#!/usr/bin/env bash
# Source me after setting a recipe's variables: turns `--foo-bar value` (or
# `--foo-bar=value`) into foo_bar=value, as Kaldi's utils/parse_options.sh.
# Only variables the recipe already set can be given (an unknown option is an
# error, a typo never passes silently); an option whose value is true or false
# takes only true or false (as Kaldi's); `--help` prints them; `--config FILE`
# sources FILE first. Positional arguments stay in "$@".

blasr_usage() {
  echo "usage: $0 [--option value ...]" >&2
  echo "options (current values):" >&2
  for blasr_var in ${blasr_option_names:-}; do
    echo "  --${blasr_var//_/-} ${!blasr_var}" >&2
  done
}

blasr_positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      blasr_usage; exit 0 ;;
    --config)
      [ $# -ge 2 ] && [ -f "$2" ] || { echo "$0: --config needs an existing file" >&2; exit 1; }
      . "$2"; shift 2 ;;
    --*=*)
      blasr_name=${1%%=*}; blasr_name=${blasr_name#--}; blasr_name=${blasr_name//-/_}
      blasr_value=${1#*=}
      shift ;;
    --*)
      blasr_name=${1#--}; blasr_name=${blasr_name//-/_}
      [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
      blasr_value=$2
      shift 2 ;;
    *)
      blasr_positional+=("$1"); shift; continue ;;
  esac
  if [ -z "${blasr_name:-}" ] || ! declare -p "$blasr_name" >/dev/null 2>&1 || [[ ! "$blasr_name" =~ ^[a-z_][a-z0-9_]*$ ]]; then
    echo "$0: unknown option --${blasr_name//_/-} (run with --help for the list)" >&2
    exit 1
  fi
  if [[ ${!blasr_name} == true || ${!blasr_name} == false ]] && [[ $blasr_value != true && $blasr_value != false ]]; then
    echo "$0: option --${blasr_name//_/-} takes true or false, not '$blasr_value'" >&2
    exit 1
  fi
  printf -v "$blasr_name" '%s' "$blasr_value"
  unset blasr_name blasr_value
done
set -- ${blasr_positional[@]+"${blasr_positional[@]}"}
unset blasr_positional
