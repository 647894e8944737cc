#!/usr/bin/env bash
# Real builds from clean: a cargo crate using serde (derive) and serde_json from Debian's
# vendored sources (offline), a small SwiftPM package, and a make project (50 C files):
# bare, under warden (enforce, observe; policy from `warden init`), bwrap and `strace -f`,
# interleaved, ROUNDS rounds each (default 3). BUILDS picks some (default "cargo swift make").
# Needs root and a release build (.build/release/warden, or WARDEN=path).
source "$(dirname "$0")/common.sh"
ROUNDS=${ROUNDS:-3}
BUILDS=${BUILDS:-cargo swift make}

# Each *_project writes the project and build.sh into DIR and prints the clean command.
cargo_project() { # DIR
  mkdir -p "$1/src" "$1/.cargo"
  printf '[package]\nname = "wbench"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n' > "$1/Cargo.toml"
  printf 'serde = { version = "1", features = ["derive"] }\nserde_json = "1"\n' >> "$1/Cargo.toml"
  printf '[source.crates-io]\nreplace-with = "debian"\n\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n' > "$1/.cargo/config.toml"
  cat > "$1/src/main.rs" <<'RS'
use serde::{Deserialize, Serialize};
#[derive(Serialize, Deserialize)]
struct P { x: i32, name: String }
fn main() { println!("{}", serde_json::to_string(&P { x: 7, name: "w".into() }).unwrap()); }
RS
  (cd "$1" && cargo generate-lockfile --offline -q)
  printf 'exec cargo build --offline -q\n' > "$1/build.sh"
  echo "rm -rf target"
}

swift_project() { # DIR
  mkdir -p "$1/Sources/wbench"
  printf '// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: "wbench", targets: [.executableTarget(name: "wbench")])\n' > "$1/Package.swift"
  for ((i = 0; i < 20; i++)); do
    printf 'struct S%d: Codable { var a: Int; var b: [String: Double] }\nfunc f%d() -> Int { (0..<%d).map { $0 * 2 }.reduce(0, +) }\n' $i $i $((i + 3)) > "$1/Sources/wbench/s$i.swift"
  done
  printf 'print(f0() + f19())\n' > "$1/Sources/wbench/main.swift"
  printf 'exec swift build -q\n' > "$1/build.sh"
  echo "rm -rf .build"
}

make_project() { # DIR
  mkdir -p "$1/src"
  for ((i = 0; i < 50; i++)); do
    printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint f%d(const char *s) { return (int)strlen(s) * %d; }\n' $i $i > "$1/src/f$i.c"
  done
  printf 'int main(void) { return 0; }\n' > "$1/src/main.c"
  printf 'SRC := $(wildcard src/*.c)\nprog: $(SRC:src/%%.c=obj/%%.o)\n\t$(CC) -o $@ $^\nobj/%%.o: src/%%.c | obj\n\t$(CC) -O2 -c -o $@ $<\nobj:\n\tmkdir -p obj\n' > "$1/Makefile"
  printf 'exec make -s -j%d\n' "$(nproc)" > "$1/build.sh"
  echo "rm -rf obj prog"
}

echo "real builds from clean, $ROUNDS rounds, $(nproc) CPUs, kernel $(uname -r)"
for build in $BUILDS; do
  for d in bare enforce observe; do
    PREP=$("${build}_project" "$work/$build/$d")
    if [[ $d != bare ]]; then (cd "$work/$build/$d" && "$WARDEN" init >/dev/null); fi
  done
  BARE_DIR=$work/$build/bare ENFORCE_DIR=$work/$build/enforce OBSERVE_DIR=$work/$build/observe
  mapfile -t runs < <(variants "sh ./build.sh")
  echo "== $build"
  compare "$ROUNDS" "${runs[@]}"
  audit_counts "$ENFORCE_DIR" enforce
  audit_counts "$OBSERVE_DIR" observe
done
