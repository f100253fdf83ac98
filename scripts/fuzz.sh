#!/usr/bin/env bash
# Builds one libFuzzer target and runs it on a copy of its seed corpus (Fuzz/README.md).
#
#   scripts/fuzz.sh TARGET [SECONDS] [LIBFUZZER-FLAGS...]
#     TARGET   http-request | http-response | jose
#     SECONDS  how long to fuzz (default 60)
#
# Build: the target's harness is compiled with the sources it exercises as one module, straight with
# swiftc (libFuzzer ships with the Swift toolchain; SwiftPM has no fuzzer mode):
#   swiftc -sanitize=fuzzer,address -parse-as-library -O ... -o .build-fuzz/<target>/fuzzer
# The binary is rebuilt only when a source is newer. FUZZ_BUILD_ONLY=1 stops after the build.
#
# Run: on .build-fuzz/<target>/corpus, a working copy refreshed from Fuzz/corpus/<target> (the
# repository corpus is never written to), with -max_len=8192 -timeout=5 and the target's dictionary
# (Fuzz/dict/<target>.dict). Extra arguments go to libFuzzer. Crash, timeout and OOM
# inputs land in .build-fuzz/<target>/artifacts/. Exits non-zero when the fuzzer found one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  echo "usage: scripts/fuzz.sh http-request|http-response|jose [SECONDS] [LIBFUZZER-FLAGS...]" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
TARGET=$1
shift
SECONDS_TO_RUN=60
if [[ $# -ge 1 && $1 =~ ^[0-9]+$ ]]; then
  SECONDS_TO_RUN=$1
  shift
fi

case "$TARGET" in
  http-request)
    SOURCES=(Fuzz/HTTPRequest/main.swift Fuzz/Shared/HTTPFeed.swift)
    SOURCE_DIRS=(Sources/GatehouseHTTP)
    ;;
  http-response)
    SOURCES=(Fuzz/HTTPResponse/main.swift Fuzz/Shared/HTTPFeed.swift)
    SOURCE_DIRS=(Sources/GatehouseHTTP)
    ;;
  jose)
    # Only the Crypto-free part of GatehouseAuth: the parsers, their error type and the alg names.
    SOURCES=(Fuzz/JOSE/main.swift Sources/GatehouseAuth/AuthFailure.swift Sources/GatehouseAuth/Keys/JWSAlgorithm.swift)
    SOURCE_DIRS=(Sources/GatehouseAuth/JOSE)
    ;;
  *) usage ;;
esac
while IFS= read -r file; do SOURCES+=("$file"); done < <(find "${SOURCE_DIRS[@]}" -name '*.swift' | LC_ALL=C sort)

OUT=.build-fuzz/$TARGET
BIN=$OUT/fuzzer
mkdir -p "$OUT/corpus" "$OUT/artifacts"

# The package's language mode and upcoming features (Package.swift), so the sources compile as in
# `swift build`; `package` declarations need a package name.
SWIFT_FLAGS=(
  -parse-as-library -swift-version 6
  -enable-upcoming-feature ExistentialAny
  -enable-upcoming-feature MemberImportVisibility
  -enable-upcoming-feature InternalImportsByDefault
  -package-name gatehouse -module-name "Fuzz_${TARGET//-/_}"
  -sanitize=fuzzer,address
)

needs_build() {
  [[ ! -x $BIN ]] && return 0
  local f
  for f in "${SOURCES[@]}" scripts/fuzz.sh; do
    [[ $f -nt $BIN ]] && return 0
  done
  return 1
}

if needs_build; then
  echo "building $BIN (${#SOURCES[@]} files)" >&2
  # lld links the sanitizer runtimes without gold's flood of warnings; gold (the default) works too.
  LINKER=()
  if [[ -x "$(dirname "$(command -v swiftc)")/ld.lld" ]] || command -v ld.lld >/dev/null 2>&1; then
    LINKER=(-use-ld=lld)
  fi
  if ! swiftc "${SWIFT_FLAGS[@]}" -O "${LINKER[@]}" "${SOURCES[@]}" -o "$BIN.tmp"; then
    echo "-O build failed; retrying with -Onone" >&2
    swiftc "${SWIFT_FLAGS[@]}" -Onone "${LINKER[@]}" "${SOURCES[@]}" -o "$BIN.tmp"
  fi
  mv "$BIN.tmp" "$BIN"
fi
[[ ${FUZZ_BUILD_ONLY:-0} == 1 ]] && exit 0

# Refresh the working copy from the repository seeds (what the fuzzer added earlier is kept).
cp -f "Fuzz/corpus/$TARGET"/* "$OUT/corpus/"

# Let libFuzzer, not the Swift runtime's backtracer, handle a trap: the backtracer can stall a run
# and keeps libFuzzer from writing the crash input.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
DICT=()
[[ -f Fuzz/dict/$TARGET.dict ]] && DICT=(-dict="Fuzz/dict/$TARGET.dict")

echo "fuzzing $TARGET for ${SECONDS_TO_RUN}s on $OUT/corpus" >&2
status=0
"$BIN" "$OUT/corpus" \
  -max_len=8192 -timeout=5 -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 \
  -artifact_prefix="$OUT/artifacts/" "${DICT[@]}" "$@" || status=$?
if [[ $status -ne 0 ]]; then
  echo "fuzz.sh: $TARGET failed (exit $status); reproducer(s) in $OUT/artifacts/:" >&2
  ls -t "$OUT/artifacts/" | head -5 >&2 || true
  echo "replay: SWIFT_BACKTRACE=enable=no $BIN $OUT/artifacts/<file>   (FUZZ_PRINT=1 also prints the HTTP transcript)" >&2
fi
exit $status
