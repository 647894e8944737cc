import CWardenShim
import Foundation
import SystemPackage
import WardenPolicy

/// The kernel objects of the tier-2 layers, built in the parent before the child
/// starts: a Landlock ruleset fd and exported seccomp programs. The child applies
/// them between no_new_privs and exec (see spawn.c).
public final class Confinement: @unchecked Sendable {
    public private(set) var landlockFD: Int32 = -1
    /// Installed in this order; each applies to every call.
    var seccomp: [warden_bpf_program] = []
    /// The filter installed with a listener (it holds the NOTIFY rules), or -1.
    public private(set) var notifyFilter: Int32 = -1
    /// Paths bind-mounted read-only for the child (FilesystemPlan.protected).
    public var readOnlyPaths: [String] = []
    /// With a value, the child sees every mount read-only but these (the write paths);
    /// nil: the filesystem's own modes (observe mode, `fs.default = "allow"`).
    public var writablePaths: [String]?
    /// Whether this kernel can build that read-only view (mount_setattr, Linux 5.12).
    public static var canMountReadOnly: Bool { warden_mount_setattr_supported() == 1 }
    /// Rules whose path does not exist here (skipped: nothing to allow).
    public private(set) var skippedRules: [LandlockRule] = []

    public init() {}

    deinit {
        if landlockFD >= 0 { close(landlockFD) }
        for var p in seccomp { warden_bpf_program_free(&p) }
    }

    /// The running kernel's Landlock ABI, or why there is none.
    public static func landlockABI() -> Result<Int, Errno> {
        let abi = warden_landlock_abi()
        return abi > 0 ? .success(Int(abi)) : .failure(Errno(rawValue: -abi))
    }

    public func applyLandlock(_ plan: LandlockPlan, abi: Int) throws(SandboxError) {
        let scoped: UInt64 = plan.scopeSignalsAndSockets
            ? UInt64(WARDEN_LL_SCOPE_SIGNAL) | UInt64(WARDEN_LL_SCOPE_ABSTRACT_UNIX_SOCKET) : 0
        let fd = warden_landlock_create(plan.handled.rawValue, scoped, Int32(abi))
        guard fd >= 0 else { throw .confinement("create the Landlock ruleset", Errno(rawValue: -fd)) }
        landlockFD = fd
        for rule in plan.rules {
            let rc = warden_landlock_add_path(fd, rule.path, rule.rights.rawValue)
            guard rc == 0 else {
                let e = Errno(rawValue: -rc)
                if e == .noSuchFileOrDirectory || e == .notDirectory {
                    skippedRules.append(rule)
                    continue
                }
                throw .confinement("add the Landlock rule for \(rule.path) (\(rule.why))", e)
            }
        }
    }

    /// Names in the filter that this machine's libseccomp does not know (from an
    /// imported profile written for other architectures or newer kernels): skipped.
    public private(set) var unknownSyscalls: [String] = []

    public static func isKnownSyscall(_ name: String) -> Bool { warden_seccomp_resolve(name) >= 0 }

    /// The architectures `warden seccomp groups` and rule checks know, as libseccomp names them.
    public static let architectures = ["x86_64", "aarch64"]

    /// The call's number on `arch`, nil when it has none there.
    public static func syscallNumber(_ name: String, arch: String) -> Int32? {
        let nr = warden_seccomp_resolve_arch(name, arch)
        return nr >= 0 ? nr : nil
    }

    /// The name of native system call `nr`, nil when libseccomp has none.
    public static func syscallName(_ nr: Int32) -> String? {
        var buf = [CChar](repeating: 0, count: 64)
        guard warden_seccomp_name(nr, &buf, buf.count) == 0 else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether libseccomp knows `name` as a system call of x86_64 or aarch64 (a name only
    /// the other architecture has is skipped when the filter is built, and reported).
    public static func isSyscallName(_ name: String) -> Bool {
        warden_seccomp_resolve(name) >= 0 || architectures.contains { syscallNumber(name, arch: $0) != nil }
    }

    /// Checks `syscall.deny` and the names of `[[syscall.rule]]`: each must be a system call.
    public static func checkSyscallNames(deny: [Located<String>], rules: [Located<SyscallRuleSpec>]) throws(SandboxError) {
        for entry in deny where !isSyscallName(entry.value) {
            throw .unknownSyscall(entry.value, "\(entry.origin): syscall.deny")
        }
        for rule in rules {
            for name in rule.value.names where !name.hasPrefix("@") && !isSyscallName(name) {
                throw .unknownSyscall(name, "\(rule.origin): syscall.rule")
            }
        }
    }

    /// Builds a seccomp filter (libseccomp, in this process) for the child to install, after
    /// those built before.
    public func applySeccomp(_ filter: CompiledFilter) throws(SandboxError) {
        var rules: [warden_seccomp_rule] = []
        var argStore: [[warden_seccomp_arg]] = []
        var origins: [String] = []
        for r in filter.rules {
            let nr = warden_seccomp_resolve(r.name)
            guard nr >= 0 else {
                if !unknownSyscalls.contains(r.name) { unknownSyscalls.append(r.name) }
                continue
            }
            argStore.append(r.args.map { warden_seccomp_arg(index: $0.index, op: $0.op, value: $0.value, value_two: $0.valueTwo) })
            rules.append(warden_seccomp_rule(nr: nr, action: r.action, arg_count: UInt32(r.args.count), args: nil))
            origins.append("\(r.origin) (\(r.name))")
        }
        var program = warden_bpf_program()
        var failed: Int32 = -1
        // The argument arrays must stay put while C reads them.
        let rc = withArgPointers(argStore) { pointers in
            for i in rules.indices { rules[i].args = pointers[i] }
            return warden_seccomp_build(filter.defaultAction, rules, Int32(rules.count), &program, &failed)
        }
        guard rc == 0 else {
            let which = failed >= 0 && Int(failed) < origins.count ? " at \(origins[Int(failed)])" : ""
            throw .confinement("build the seccomp filter\(which)", Errno(rawValue: -rc))
        }
        if filter.rules.contains(where: { $0.action == SeccompProfile.actNotify }) { notifyFilter = Int32(seccomp.count) }
        seccomp.append(program)
    }

    private func withArgPointers<R>(_ store: [[warden_seccomp_arg]], _ body: ([UnsafePointer<warden_seccomp_arg>?]) -> R) -> R {
        let buffers = store.map { args -> UnsafeMutableBufferPointer<warden_seccomp_arg> in
            let b = UnsafeMutableBufferPointer<warden_seccomp_arg>.allocate(capacity: max(args.count, 1))
            _ = b.initialize(from: args)
            return b
        }
        defer { buffers.forEach { $0.deallocate() } }
        return body(buffers.map { UnsafePointer($0.baseAddress) })
    }

    /// What the kernel runs when it execs `path`: the program itself, its ELF
    /// interpreter (the dynamic loader) or its `#!` interpreter, as real paths.
    public static func executionChain(_ path: String) -> [String] {
        var out = [ProgramLookup.realPath(path)]
        guard let fh = FileHandle(forReadingAtPath: out[0]) else { return out }
        defer { try? fh.close() }
        let head = (try? fh.read(upToCount: 4096)) ?? Data()
        if head.starts(with: [0x23, 0x21]) {  // "#!"
            let line = head.dropFirst(2).prefix { $0 != 0x0a }
            let interp = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                .split(separator: " ").first.map(String.init)
            if let interp, interp.hasPrefix("/") { out += executionChain(interp) }
        } else if let interp = elfInterpreter(fh, head: head) {
            out.append(ProgramLookup.realPath(interp))
        }
        return out
    }

    static func elfInterpreter(_ fh: FileHandle, head: Data) -> String? {
        // 64-bit little-endian ELF only (x86_64, aarch64).
        let h = [UInt8](head)
        guard h.count >= 64, h[0] == 0x7f, h[1] == 0x45, h[2] == 0x4c, h[3] == 0x46, h[4] == 2, h[5] == 1 else { return nil }
        func u(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        let phoff = u(h[0x20..<0x28]), phentsize = u(h[0x36..<0x38]), phnum = u(h[0x38..<0x3a])
        guard phentsize >= 56, phnum < 256 else { return nil }
        try? fh.seek(toOffset: phoff)
        guard let table = try? fh.read(upToCount: Int(phentsize * phnum)), table.count == Int(phentsize * phnum) else { return nil }
        let t = [UInt8](table)
        for i in 0..<Int(phnum) {
            let base = i * Int(phentsize)
            guard u(t[base..<base + 4]) == 3 else { continue }  // PT_INTERP
            let off = u(t[base + 8..<base + 16]), size = u(t[base + 32..<base + 40])
            guard size > 1, size < 4096 else { return nil }
            try? fh.seek(toOffset: off)
            guard let d = try? fh.read(upToCount: Int(size)) else { return nil }
            return String(decoding: d.prefix { $0 != 0 }, as: UTF8.self)
        }
        return nil
    }
}
