#!/bin/sh
# The enforce-mode suite for one kernel configuration, run as root inside a VM by
# scripts/vm-matrix.sh (through scripts/vm-test.sh) with the warden binary built on the host.
#   vm-suite.sh tier1-with-landlock | tier1-alone | tier2
# Exit status: 0 when every check passed; the last line is "vm-suite: N passed, M failed",
# which vm-matrix.sh requires (a suite that stopped early has none).
set -u
expect=$1
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
W=$(pwd)/.build/debug/warden
[ -x "$W" ] || { echo "vm-suite: $W is not built"; exit 125; }
failed=0
passes=0
failures=0
check() { # check NAME COMMAND...
  name=$1
  shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; failed=1; failures=$((failures + 1)); fi
}
has() { grep -q -- "$2" "$1"; }
# A whole line, exactly: "denied 1" must not match "denied 111".
hasline() { grep -qx -- "$2" "$1"; }
# A file that is missing proves nothing: it fails the check.
hasnt() { [ -e "$1" ] && ! grep -q -- "$2" "$1"; }

secret=/var/lib/warden-vm-secret
mkdir -p "$secret/.ssh" && echo FAKE-KEY > "$secret/.ssh/id_rsa"
work=/var/lib/warden-vm-work
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 125

# Loopback listeners on the port the policy allows and on one it does not: an unenforced
# connect to the second would succeed (0), not fail with ECONNREFUSED.
python3 -c '
import socket, sys, os, select
ls = []
for port in (47001, 47002):
    s = socket.socket(); s.bind(("127.0.0.1", port)); s.listen(8); ls.append(s)
if os.fork(): sys.exit(0)
while True:
    for s in select.select(ls, [], [])[0]: s.accept()[0].close()
'
cat > warden.toml <<'EOF'
mode = "enforce"
fs.default = "strict"
net.default = "deny"
exec.default = "allowlist"
[allow.exec]
allowed = ["sh", "cat", "touch", "mv", "python3", "chmod"]
[allow.net]
hosts = ["127.0.0.1:47001"]
EOF

degraded=""
probe_connect='import socket, errno
def go(p):
    s = socket.socket()
    try: s.connect(("127.0.0.1", p)); return 0
    except OSError as e: return e.errno
print("allowed", go(47001)); print("denied", go(47002))'
"$W" run $degraded -- sh -c "
  cat $secret/.ssh/id_rsa > stolen 2> read.err; echo \"read \$?\" > out
  cat /etc/hostname > /dev/null; echo \"hostname \$?\" >> out
  echo x 2> /dev/null >> $secret/.ssh/id_rsa; echo \"write \$?\" >> out
  touch $secret/planted 2> /dev/null; echo \"create \$?\" >> out
  touch made; echo \"workspace-write \$?\" >> out
  /bin/bash -c true 2> /dev/null; echo \"bash \$?\" >> out
  mv $secret/.ssh/id_rsa ./moved 2> /dev/null; echo \"rename \$?\" >> out
  python3 -c '$probe_connect' >> out
" > run.out 2> run.err
echo "--- warden said:"; cat run.err; echo "--- the sandbox saw:"; cat out; echo "---"

( cd "$work" && "$W" status > status.out 2>&1 )
check "warden status names the tier the run had" has status.out "last run enforced: file_open=$( [ "$expect" = tier2 ] && echo landlock || echo bpf-lsm )"
check "the command ran to the end" test "$(tail -1 run.err | grep -c 'exited with status 0')" = 1
check "the secret was not read" hasnt stolen FAKE-KEY
check "baseline read works" hasline out "hostname 0"
check "write outside the output fails" hasnt out "^write 0"
check "the protected file was not written or moved" test "$(cat $secret/.ssh/id_rsa)" = FAKE-KEY
check "workspace (make preset: the output) is writable" hasline out "workspace-write 0"
check "exec outside the allowlist fails" hasline out "bash 126"
check "allowed loopback port connects" hasline out "allowed 0"
check "other loopback port refused (EPERM)" hasline out "denied 1"
case $expect in
  tier1-with-landlock)
    check "tier 1 claimed, proven by its canary" has run.err "file_open=bpf-lsm"
    check "exec on tier 1" has run.err "exec=bpf-lsm"
    check "rename into the workspace fails (Landlock)" hasnt out "rename 0"
    check "nothing created outside (Landlock)" test ! -e "$secret/planted"
    ;;
  tier1-alone)
    check "tier 1 claimed, proven by its canary" has run.err "file_open=bpf-lsm"
    check "create/rename/unlink on tier 1 too" has run.err "rename_unlink=bpf-lsm"
    check "the read was refused by the BPF LSM (EPERM)" has read.err "Operation not permitted"
    check "rename into the workspace fails (BPF LSM)" hasnt out "rename 0"
    check "nothing created outside (BPF LSM)" test ! -e "$secret/planted"
    check "nothing left unenforced" hasnt run.err "DEGRADED"
    ;;
  tier2)
    check "tier 1 not claimed (bpf not in lsm=)" hasnt run.err "bpf-lsm"
    check "Landlock enforces instead" has run.err "file_open=landlock"
    check "the read was refused by Landlock (EACCES)" has read.err "Permission denied"
    check "rename into the workspace fails (Landlock)" hasnt out "rename 0"
    check "nothing created outside (Landlock)" test ! -e "$secret/planted"
    ;;
  *) echo "vm-suite: unknown expectation $expect"; exit 2 ;;
esac

# Each refusal is one denied event with the line that would allow it. The run's last line
# names its event log (in warden's state directory).
log=$(sed -n 's/.*; log \(.*\)$/\1/p' run.err | tail -n 1)
python3 - "$secret" "$log" > events.check <<'PY'
import json, sys
secret = sys.argv[1]
events = []
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r["type"] == "run": events = []
    if r["type"] == "event": events.append(r)
denied = [e for e in events if e["verdict_name"] == "denied"]
reads = [e for e in denied if e["path_or_addr"] == secret + "/.ssh/id_rsa" and e["access"] == ["read"]]
# cat's read, and mv's: the rename crosses into the workspace's mount (EXDEV), so mv
# falls back to copying and its read is refused too. One event per refused process.
print("read-denials", "one-per-process" if reads and len(reads) == len({e["pid"] for e in reads}) else len(reads),
      ",".join(sorted({e["needed_perm"] for e in reads})))
print("exec-denials", len([e for e in denied if e["action_name"] == "exec" and e["path_or_addr"].endswith("/bash")]))
print("connect-denials", len([e for e in denied if e["path_or_addr"] == "127.0.0.1:47002"]))
print("units", sorted({e["unit_name"] for e in events}))
PY
cat events.check
check "each read denial is one event naming the policy line" hasline events.check "read-denials one-per-process allow.fs.read_extra=$secret/.ssh/id_rsa"
check "the exec denial is one event" hasline events.check "exec-denials 1"
check "the connect denial is one event" hasline events.check "connect-denials 1"

# A mode change outside the write paths: the read-only view refuses it on every tier (EROFS,
# before tier 1's path_chmod would), and the refusal is a denial (exit 77).
chmod 644 "$secret/.ssh/id_rsa"
"$W" run -- sh -c "chmod 600 $secret/.ssh/id_rsa; echo \"chmod \$?\" > attr.out" > attr.run.out 2> attr.run.err
echo "attr-exit $?" >> attr.out
echo "mode $(stat -c %a "$secret/.ssh/id_rsa")" >> attr.out
cat attr.out
check "a chmod outside the write paths ends the run in 77" hasline attr.out "attr-exit 77"
check "chmod outside the write paths refused" hasline attr.out "chmod 1"
check "the mode did not change" hasline attr.out "mode 644"
check "refused by the read-only view" has attr.run.err "Read-only file system"

# A hard link to a file outside the write paths would make it writable through its new
# name: tier 1's path_link (it needs write on the file) and Landlock both refuse it with
# EXDEV, as across file systems (git and cp then copy), and the refusal is recorded.
echo ORIGINAL > "$secret/victim"
"$W" run -- python3 -c 'import os, sys
try:
    os.link(sys.argv[1], "victim-link"); print("link 0")
except OSError as e:
    print("link", e.errno)
try:
    open("victim-link", "a").write("CHANGED")
except OSError:
    pass' "$secret/victim" > link.out 2> link.err
echo "link-exit $?" >> link.out
cat link.out
log=$(sed -n 's/.*; log \(.*\)$/\1/p' link.err | tail -n 1)
check "the link refused (EXDEV)" hasline link.out "link 18"
check "the file outside did not change" test "$(cat "$secret/victim")" = ORIGINAL
check "the refused link is recorded, naming the file" has "$log" "\"action_name\":\"link\".*\"path_or_addr\":\"$secret/victim\""

# A unix socket outside the write paths: tier 1 refuses the connect (unix_stream_connect,
# judged on the socket found); on tier 2 the kernel lets it through and warden catches it.
python3 -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
if os.fork(): sys.exit(0)
while True: s.accept()[0].close()' "$secret/d.sock"
"$W" run -- python3 -c 'import socket, sys
c = socket.socket(socket.AF_UNIX)
try:
    c.connect(sys.argv[1]); print("unix 0")
except OSError as e:
    print("unix", e.errno)' "$secret/d.sock" > unix.out 2> unix.err
echo "unix-exit $?" >> unix.out
cat unix.out
check "a connect to a unix socket outside ends the run in 77" hasline unix.out "unix-exit 77"
case $expect in
  tier1-*) check "the unix connect refused by the BPF LSM (EPERM)" hasline unix.out "unix 1" ;;
  tier2) check "the unix connect caught as allowed although forbidden" has unix.err "policy forbids were allowed" ;;
esac

# Warden's own pid is out of the build's reach, with or without Landlock's signal scoping
# (this kernel has none): the run's seccomp shield refuses the signal, as plain root.
"$W" run -- python3 -c 'import os
try:
    os.kill(os.getppid(), 0); print("signal 0")
except OSError as e:
    print("signal", e.errno)' > signal.out 2> signal.err
cat signal.out
check "the build cannot signal warden (seccomp shield)" hasline signal.out "signal 1"

# limits.processes binds plain root through the run's cgroup (pids.max), which the
# kernel's RLIMIT_NPROC does not: the 20th task's fork fails with EAGAIN (11).
mkdir -p "$work/limits" && cd "$work/limits" || exit 125
printf 'net.default = "allow"\n[limits]\nprocesses = 20\n' > warden.toml
"$W" run -- python3 -c 'import os
r, w = os.pipe()
n = 0
for i in range(40):
    try:
        pid = os.fork()
    except OSError as e:
        print("fork refused", e.errno); break
    if pid == 0:
        os.close(w); os.read(r, 1); os._exit(0)
    n += 1
os.close(w)
print("forked", n)' > limits.out 2> limits.err
cat limits.out
check "limits.processes binds plain root (pids.max on the run's cgroup)" hasline limits.out "fork refused 11"
log=$(sed -n 's/.*; log \(.*\)$/\1/p' limits.err | tail -n 1)
check "the run record names the cgroup's limit" has "$log" "pids.max=20 on the run's cgroup"
cd "$work" || exit 125

# A real build under this tier: the make preset building C.
mkdir -p "$work/build" && cd "$work/build" || exit 125
printf 'int main(void) { return 0; }\n' > hello.c
printf 'hello: hello.c\n\tcc -O2 -o hello hello.c\n' > Makefile
"$W" init > /dev/null
"$W" run $degraded -- make > build.out 2> build.err
echo "build-exit $?" >> build.out
check "make builds under this tier" test -x hello
check "the clean build exits 0 (the canaries' refusals are not the build's)" hasline build.out "build-exit 0"
check "the build ran with no denial" has build.err "denied 0"
check "the kernel allowed nothing the policy forbids" hasnt build.err "policy forbids were allowed"
[ $failed = 0 ] || { echo "--- build:"; cat build.err; }

# A real SwiftPM build under tier 1 (about two minutes under TCG, so in one entry only):
# the manifest compiled and run, swift-frontend, clang linking, with the swift preset.
if [ "$expect" = tier1-with-landlock ]; then
  mkdir -p "$work/swift/Sources/hello" && cd "$work/swift" || exit 125
  printf '// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: "hello", targets: [.executableTarget(name: "hello")])\n' > Package.swift
  printf 'print("hello from swift")\n' > Sources/hello/main.swift
  "$W" init > /dev/null
  PATH=$PATH:/opt/swift/usr/bin "$W" build > build.out 2> build.err
  check "swift build under tier 1, no denial" has build.err "exited with status 0; events [0-9]*, denied 0"
  check "the swift product runs" test "$(./.build/debug/hello)" = "hello from swift"
  check "tier 1 enforced the swift build" has build.err "file_open=bpf-lsm"
  [ $failed = 0 ] || { echo "--- swift build:"; tail -20 build.err; "$W" report | tail -25; }
fi
echo "vm-suite: $passes passed, $failures failed"
exit $failed
