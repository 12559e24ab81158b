#!/usr/bin/env bash
# libFuzzer harnesses (Tests/Fuzz/<harness>/) over the modules that read untrusted bytes, built
# with swiftc -sanitize=fuzzer,address straight from the module sources (no package target:
# libFuzzer brings its own main).
#
#   scripts/fuzz.sh build              compile the modules and the six fuzzers into .build-fuzz/
#   scripts/fuzz.sh run SECONDS [NAME...]  build, then run each fuzzer for SECONDS (all by default)
#   scripts/fuzz.sh merge [NAME...]    minimize Tests/Fuzz/corpus/NAME with what runs have found
#
# Runs read the committed seeds (Tests/Fuzz/corpus/NAME, read only) and keep what they find in
# .build-fuzz/corpus/NAME; a crash is written to .build-fuzz/crashes/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

out=.build-fuzz
# Swift's crash backtracer reads memory ASan has poisoned, and hides the real report.
export SWIFT_BACKTRACE=enable=no
fuzzers=(json jpeg png webp base64 tokenizer)
flags=(-O -sanitize=fuzzer,address -parse-as-library -wmo -swift-version 6 -I "$out")
shims=(-I Sources/CCurl -I Sources/CTurboJPEG -I Sources/CSPNG -I Sources/CWebP)

# Only the swiftc lines count: ld.gold warns about every ASan symbol it cannot export.
quiet() { "$@" 2> >(grep -v "Cannot export local symbol" >&2); }

# Rebuilds a module when any of its inputs is newer than its object.
module() {
    local name=$1; shift
    local sources=("$@")
    if [ -f "$out/$name.o" ] && [ -z "$(find "${sources[@]}" -newer "$out/$name.o" 2>/dev/null | head -1)" ]; then return; fi
    echo "fuzz: compiling $name"
    quiet swiftc "${flags[@]}" "${shims[@]}" -module-name "$name" -emit-module -emit-module-path "$out/$name.swiftmodule" \
        -c "${sources[@]}" -o "$out/$name.o"
}

# SwiftPM's embedInCode for ClipSchema's schemas, written the way SwiftPM writes it.
schema_resources() {
    python3 - "$out/ClipSchemaResources.swift" <<'EOF'
import pathlib, sys
lines = ["struct PackageResources {"]
for name in ["request", "reply", "error", "dead-letter"]:
    data = pathlib.Path(f"Schemas/{name}.schema.json").read_bytes()
    lines.append(f"static let {name.replace('-', '_')}_schema_json: [UInt8] = [{','.join(map(str, data))}]")
new = "\n".join(lines + ["}", ""])
path = pathlib.Path(sys.argv[1])
if not path.exists() or path.read_text() != new:
    path.write_text(new)
EOF
}

harness() {
    local name=$1 file=$2 objects=$3; shift 3
    if [ -f "$out/fuzz-$name" ] && [ -z "$(find "$file" Tests/Fuzz/Check.swift $objects -newer "$out/fuzz-$name" | head -1)" ]; then return; fi
    echo "fuzz: linking fuzz-$name"
    quiet swiftc "${flags[@]}" "${shims[@]}" "$@" "$file" Tests/Fuzz/Check.swift $objects -o "$out/fuzz-$name"
}

build() {
    mkdir -p "$out"
    schema_resources
    module ClipSchema Sources/ClipSchema/*.swift "$out/ClipSchemaResources.swift"
    module ClipImage Sources/ClipImage/*.swift
    module ClipText Sources/ClipText/*.swift
    local image="$out/ClipSchema.o $out/ClipImage.o"
    harness json Tests/Fuzz/json/JSONHarness.swift "$out/ClipSchema.o"
    harness jpeg Tests/Fuzz/image/ImageHarness.swift "$image" -D FUZZ_JPEG
    harness png Tests/Fuzz/image/ImageHarness.swift "$image" -D FUZZ_PNG
    harness webp Tests/Fuzz/image/ImageHarness.swift "$image" -D FUZZ_WEBP
    harness base64 Tests/Fuzz/base64/SourceHarness.swift "$image"
    harness tokenizer Tests/Fuzz/tokenizer/TokenizerHarness.swift "$out/ClipText.o"
}

# Large inputs only slow the search: the seeds are small and bugs need no more than 64 KiB here.
options=(-max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

run() {
    local seconds=$1; shift
    local names=("${@:-${fuzzers[@]}}") failed=()
    build
    mkdir -p "$out/crashes"
    for name in "${names[@]}"; do
        mkdir -p "$out/corpus/$name"
        echo "fuzz: $name for ${seconds}s"
        if ! "$out/fuzz-$name" "${options[@]}" -max_total_time="$seconds" -artifact_prefix="$out/crashes/$name-" \
            "$out/corpus/$name" "Tests/Fuzz/corpus/$name" > "$out/$name.log" 2>&1; then
            failed+=("$name")
            tail -40 "$out/$name.log"
        fi
        grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^Done|^INFO: -max_total_time" "$out/$name.log" | tr '\n' ' '; echo
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "fuzz: FAILED: ${failed[*]} (inputs in $out/crashes/)"
        return 1
    fi
}

merge() {
    local names=("${@:-${fuzzers[@]}}")
    build
    for name in "${names[@]}"; do
        local seeds=Tests/Fuzz/corpus/$name merged=$out/merged/$name
        rm -rf "$merged" && mkdir -p "$merged" "$out/corpus/$name"
        "$out/fuzz-$name" -merge=1 "${options[@]}" "$merged" "$seeds" "$out/corpus/$name" > "$out/$name.merge.log" 2>&1
        rm -rf "$seeds" && mv "$merged" "$seeds"
        echo "fuzz: $name: $(ls "$seeds" | wc -l) seeds, $(du -sk "$seeds" | cut -f1) KiB"
    done
}

case "${1:-}" in
    build) build ;;
    run) shift; run "${1:?seconds}" "${@:2}" ;;
    merge) shift; merge "$@" ;;
    *) echo "usage: $0 build | run SECONDS [NAME...] | merge [NAME...]" >&2; exit 2 ;;
esac
