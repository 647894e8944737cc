#!/usr/bin/env bash
# A header-heavy C build: a generated project of SOURCES .c files (default 200), each
# including HEADERS headers (default 50) out of a pool of 500 found through three -I
# directories (so the compiler also probes names that are not there), all rebuilt with
# `make -B -j$(nproc)`: bare, under warden (enforce, observe), bwrap and `strace -f`,
# interleaved, ROUNDS rounds (default 3). Issue 16's goal: enforce at most 1.05x bare.
# Needs root and a release build (.build/release/warden, or WARDEN=path).
source "$(dirname "$0")/common.sh"
SOURCES=${SOURCES:-200}
HEADERS=${HEADERS:-50}
ROUNDS=${ROUNDS:-3}
project() { # DIR
  mkdir -p "$1/src" "$1/include/a" "$1/include/b" "$1/include/c"
  for ((h = 0; h < 500; h++)); do
    printf '#pragma once\nstruct s%d { int a[%d]; };\nstatic inline int g%d(int x) { return x * %d; }\n' $h $((h % 7 + 1)) $h $h \
      > "$1/include/$(printf '%s' abc | cut -c$((h % 3 + 1)))/h$h.h"
  done
  for ((i = 0; i < SOURCES; i++)); do
    {
      for ((j = 0; j < HEADERS; j++)); do printf '#include "h%d.h"\n' $(((i * 7 + j * 11) % 500)); done
      printf 'int f%d(int x) { return g%d(x) + 1; }\n' $i $(((i * 7) % 500))
    } > "$1/src/f$i.c"
  done
  printf 'int main(void) { return 0; }\n' > "$1/src/main.c"
  cat > "$1/Makefile" <<'MK'
SRC := $(wildcard src/*.c)
OBJ := $(SRC:src/%.c=obj/%.o)
prog: $(OBJ)
	$(CC) -o $@ $^
obj/%.o: src/%.c | obj
	$(CC) -O1 -Iinclude/a -Iinclude/b -Iinclude/c -c -o $@ $<
obj:
	mkdir -p obj
MK
}
for d in bare enforce observe; do project "$work/$d"; done
# warden init's make preset: the project writable, the toolchain readable.
for mode in enforce observe; do (cd "$work/$mode" && "$WARDEN" init >/dev/null); done
BARE_DIR=$work/bare ENFORCE_DIR=$work/enforce OBSERVE_DIR=$work/observe
mapfile -t runs < <(variants "make -s -B -j$(nproc)")
echo "make -j$(nproc): $SOURCES sources x $HEADERS headers, $ROUNDS rounds, $(nproc) CPUs, kernel $(uname -r)"
compare "$ROUNDS" "${runs[@]}"
audit_counts "$work/enforce" enforce
audit_counts "$work/observe" observe
