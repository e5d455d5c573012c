#!/usr/bin/env bash
# Builds resec's libFuzzer targets with clang (ASan + UBSan + libFuzzer) in
# build-fuzz/ and runs each for --seconds N, starting from the seed corpus in
# fuzz/corpus/<target>/ (copied to build-fuzz/corpus/, so the repository's
# seeds only change with --update-corpus).
#
#   scripts/fuzz.sh                       # every target, 60 s each
#   scripts/fuzz.sh --seconds 600         # the 10-minute runs
#   scripts/fuzz.sh --targets "info config" --seconds 30
#   scripts/fuzz.sh --update-corpus       # also merge new coverage back into fuzz/corpus/ (minimised)
#   scripts/fuzz.sh --keep-going          # fork mode: record findings and go on fuzzing
#
# Prints one line per target:
#   fuzz: <target> execs=<N> seconds=<S> corpus=<files> result=<ok|FINDING (<artifact>)>
# and exits non-zero when any target found something (the reproducer is kept in
# build-fuzz/artifacts/<target>/; replay it with build-fuzz/fuzz/<target>_fuzzer <file>).
#
# The regular suite (scripts/test.sh, g++) does not need clang: its corpus
# replay test (tests/integration/fuzz_corpus_test.cc) runs the same target
# bodies over every seed file plus deterministic mutations of them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=60
targets="info consul_json records duration address config"
update_corpus=0
keep_going=()
build_dir="$root/build-fuzz"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --targets) targets="$2"; shift 2 ;;
    --targets=*) targets="${1#*=}"; shift ;;
    --update-corpus) update_corpus=1; shift ;;
    --keep-going) keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); shift ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
  echo "fuzz.sh: --seconds wants a positive whole number" >&2
  exit 2
fi

# libFuzzer's runtime (and clang, which scripts/install-deps.sh installs for
# the thread-safety build) come from Debian's packages; the runtime is kept
# out of install-deps.sh so the regular build does not pay for it.
fuzz_packages=(clang libclang-rt-dev)
need_install=0
command -v clang++ >/dev/null 2>&1 || need_install=1
if [[ $need_install -eq 0 ]]; then
  # libFuzzer ships in the compiler-rt package; a bare clang may lack it.
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
    > /tmp/resec-fuzz-probe.cc
  clang++ -fsanitize=fuzzer /tmp/resec-fuzz-probe.cc -o /tmp/resec-fuzz-probe >/dev/null 2>&1 || need_install=1
  rm -f /tmp/resec-fuzz-probe /tmp/resec-fuzz-probe.cc
fi
if [[ $need_install -eq 1 ]]; then
  echo "fuzz.sh: installing ${fuzz_packages[*]}" >&2
  sudo_cmd=()
  [[ "$(id -u)" -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${fuzz_packages[@]}" >/dev/null
fi

cmake -S "$root" -B "$build_dir" -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRESEC_FUZZ=ON -DRESEC_SANITIZE=address -DRESEC_BUILD_TESTS=OFF \
  -DRESEC_WERROR=OFF >/dev/null
target_list=()
for t in $targets; do target_list+=("${t}_fuzzer"); done
ninja -C "$build_dir" -j2 "${target_list[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
summary=()
for t in $targets; do
  corpus="$build_dir/corpus/$t"
  artifacts="$build_dir/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp -n "$root/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  dict=()
  [[ -f "$root/fuzz/dict/$t.dict" ]] && dict=(-dict="$root/fuzz/dict/$t.dict")
  log="$build_dir/$t.log"
  touch "$log.start"
  echo "fuzz: running $t for ${seconds}s (log: $log)" >&2
  set +e
  # -timeout: one input taking 10 s is a hang worth reporting; -rss_limit_mb
  # keeps a runaway allocation a finding instead of the machine's problem.
  "$build_dir/fuzz/${t}_fuzzer" "$corpus" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${keep_going[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)"
  # Fork mode (--keep-going) prints no final stats; its progress lines start with "#<execs>".
  [[ -z "$execs" ]] && execs="$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)"
  files="$(find "$corpus" -type f | wc -l)"
  found="$(find "$artifacts" -type f -newer "$log.start" 2>/dev/null | wc -l)"
  if [[ $rc -eq 0 && $found -eq 0 ]]; then
    result=ok
  else
    failed=1
    artifact="$(ls -t "$artifacts" 2>/dev/null | head -1)"
    result="FINDING x${found} (latest: ${artifacts}/${artifact:-?}; exit $rc)"
    grep -E 'ERROR|resec fuzz|SUMMARY' "$log" | head -5 >&2 || true
  fi
  line="fuzz: $t execs=${execs:-0} seconds=$seconds corpus=$files result=$result"
  echo "$line"
  summary+=("$line")
  if [[ $update_corpus -eq 1 && $rc -eq 0 ]]; then
    # Keep only inputs that add coverage, so the repository's seeds stay small.
    merged="$build_dir/merged/$t"
    rm -rf "$merged" && mkdir -p "$merged"
    "$build_dir/fuzz/${t}_fuzzer" -merge=1 "$merged" "$root/fuzz/corpus/$t" "$corpus" >/dev/null 2>&1
    cp -n "$merged/"* "$root/fuzz/corpus/$t/" 2>/dev/null || true
  fi
done

echo "----"
printf '%s\n' "${summary[@]}"
exit $failed
