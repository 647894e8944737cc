/// Native seccomp rules (`[[syscall.rule]]` in warden.toml): the model, and the mapping
/// to and from the OCI profile form. Pure: names are checked against the kernel's tables
/// elsewhere (WardenSandbox), groups are expanded from `SyscallGroups`.

/// What the filter does with a matching call.
public enum RuleAction: String, Sendable, CaseIterable, Codable, Hashable {
    case allow, errno, log, trap, notify
    case killThread = "kill_thread"
    case killProcess = "kill_process"

    /// The OCI / libseccomp name (`SCMP_ACT_…`).
    public var ociName: String {
        switch self {
        case .allow: return "SCMP_ACT_ALLOW"
        case .errno: return "SCMP_ACT_ERRNO"
        case .log: return "SCMP_ACT_LOG"
        case .trap: return "SCMP_ACT_TRAP"
        case .notify: return "SCMP_ACT_NOTIFY"
        case .killThread: return "SCMP_ACT_KILL_THREAD"
        case .killProcess: return "SCMP_ACT_KILL_PROCESS"
        }
    }

    public init?(ociName: String) {
        if ociName == "SCMP_ACT_KILL" { self = .killThread; return }
        guard let a = RuleAction.allCases.first(where: { $0.ociName == ociName }) else { return nil }
        self = a
    }
}

/// A comparison on one argument register. seccomp sees registers only: a pointer
/// argument is compared as an address, never by what it points to.
public enum ArgOp: String, Sendable, CaseIterable, Codable, Hashable {
    case eq, ne, lt, le, gt, ge
    case maskedEq = "masked_eq"

    public var ociName: String { "SCMP_CMP_" + rawValue.uppercased() }

    public init?(ociName: String) {
        guard let op = ArgOp.allCases.first(where: { $0.ociName == ociName }) else { return nil }
        self = op
    }
}

public struct ArgCondition: Sendable, Codable, Hashable {
    public var index: UInt32
    public var op: ArgOp
    public var value: UInt64
    /// Only with `masked_eq`: the call matches when `arg & mask == value`.
    public var mask: UInt64?

    public init(index: UInt32, op: ArgOp, value: UInt64, mask: UInt64? = nil) {
        self.index = index
        self.op = op
        self.value = value
        self.mask = mask
    }

    /// libseccomp's masked comparison takes the mask first (datum_a) and the value second.
    public var oci: SeccompArg {
        op == .maskedEq
            ? SeccompArg(index: index, value: mask ?? 0, valueTwo: value, op: op.ociName)
            : SeccompArg(index: index, value: value, op: op.ociName)
    }

    public init?(oci a: SeccompArg) {
        guard let op = ArgOp(ociName: a.op) else { return nil }
        if op == .maskedEq {
            self.init(index: a.index, op: op, value: a.valueTwo ?? 0, mask: a.value)
        } else {
            self.init(index: a.index, op: op, value: a.value)
        }
    }
}

/// One `[[syscall.rule]]`: system calls (or `@group`s), an action, and conditions that
/// must all hold for the rule to apply.
public struct SyscallRuleSpec: Sendable, Codable, Hashable {
    public var names: [String]
    public var action: RuleAction
    /// Only with `errno`; EPERM when not given.
    public var errno: UInt32?
    public var args: [ArgCondition]
    /// Only with `notify`: what warden's agent answers (else `syscall.notify_default`).
    public var answer: NotifyAnswer?

    public init(names: [String], action: RuleAction, errno: UInt32? = nil, args: [ArgCondition] = [], answer: NotifyAnswer? = nil) {
        self.names = names
        self.action = action
        self.errno = errno
        self.args = args
        self.answer = answer
    }

    /// The errno a refused call gets (EPERM unless the rule names another).
    public var errnoValue: UInt32 { errno ?? SeccompProfile.eperm }

    /// The rule in OCI form, groups expanded (names an architecture lacks are skipped when
    /// the filter is built there).
    public func oci() -> SeccompRule {
        // A group in a notify rule leaves out what warden's child calls before the agent
        // can answer (sendmsg in @network-io, execve in @process).
        let expanded = SyscallGroups.expand(names).filter { action != .notify || !SeccompGenerator.beforeListener.contains($0) }
        return SeccompRule(names: expanded, action: action.ociName,
                    errnoRet: action == .errno ? errnoValue : nil, args: args.isEmpty ? nil : args.map(\.oci))
    }

    /// An OCI rule as a native one; nil when it uses an action or comparison warden does not know.
    public init?(oci r: SeccompRule) {
        guard let action = RuleAction(ociName: r.action) else { return nil }
        var conds: [ArgCondition] = []
        for a in r.args ?? [] {
            guard let c = ArgCondition(oci: a) else { return nil }
            conds.append(c)
        }
        self.init(names: r.names, action: action, errno: action == .errno ? (r.errnoRet ?? SeccompProfile.eperm) : nil, args: conds)
    }

    /// The rule as a TOML `[[syscall.rule]]` table.
    public var toml: String {
        var out = "[[syscall.rule]]\nnames = [" + names.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
        out += "action = \"\(action.rawValue)\"\n"
        if action == .errno || (action == .notify && errno != nil) { out += "errno = \"\(ErrnoName.name(errnoValue) ?? String(errnoValue))\"\n" }
        if let answer { out += "answer = \"\(answer.rawValue)\"\n" }
        if !args.isEmpty {
            // TOML integers are signed 64-bit: the upper half is written as its two's complement.
            func int(_ v: UInt64) -> String { v > UInt64(Int64.max) ? String(Int64(bitPattern: v)) : String(v) }
            let conds = args.map { a in
                "{ index = \(a.index), op = \"\(a.op.rawValue)\", value = \(int(a.value))" + (a.mask.map { ", mask = \(int($0))" } ?? "") + " }"
            }
            out += "args = [" + conds.joined(separator: ", ") + "]\n"
        }
        return out
    }
}

/// Linux errno names (the same numbers on x86_64 and aarch64), for `errno = "EACCES"`.
public enum ErrnoName {
    public static func number(_ name: String) -> UInt32? { table[name] }
    public static func name(_ n: UInt32) -> String? { names[n] }

    static let names: [UInt32: String] = Dictionary(table.map { ($1, $0) }) { a, b in min(a, b) }

    static let table: [String: UInt32] = [
        "EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5, "ENXIO": 6, "E2BIG": 7, "ENOEXEC": 8, "EBADF":
        9, "ECHILD": 10, "EAGAIN": 11, "ENOMEM": 12, "EACCES": 13, "EFAULT": 14, "ENOTBLK": 15, "EBUSY": 16,
        "EEXIST": 17, "EXDEV": 18, "ENODEV": 19, "ENOTDIR": 20, "EISDIR": 21, "EINVAL": 22, "ENFILE": 23, "EMFILE":
        24, "ENOTTY": 25, "ETXTBSY": 26, "EFBIG": 27, "ENOSPC": 28, "ESPIPE": 29, "EROFS": 30, "EMLINK": 31,
        "EPIPE": 32, "EDOM": 33, "ERANGE": 34, "EDEADLK": 35, "ENAMETOOLONG": 36, "ENOLCK": 37, "ENOSYS": 38,
        "ENOTEMPTY": 39, "ELOOP": 40, "ENOMSG": 42, "EIDRM": 43, "ECHRNG": 44, "EL2NSYNC": 45, "EL3HLT": 46,
        "EL3RST": 47, "ELNRNG": 48, "EUNATCH": 49, "ENOCSI": 50, "EL2HLT": 51, "EBADE": 52, "EBADR": 53, "EXFULL":
        54, "ENOANO": 55, "EBADRQC": 56, "EBADSLT": 57, "EBFONT": 59, "ENOSTR": 60, "ENODATA": 61, "ETIME": 62,
        "ENOSR": 63, "ENONET": 64, "ENOPKG": 65, "EREMOTE": 66, "ENOLINK": 67, "EADV": 68, "ESRMNT": 69, "ECOMM":
        70, "EPROTO": 71, "EMULTIHOP": 72, "EDOTDOT": 73, "EBADMSG": 74, "EOVERFLOW": 75, "ENOTUNIQ": 76, "EBADFD":
        77, "EREMCHG": 78, "ELIBACC": 79, "ELIBBAD": 80, "ELIBSCN": 81, "ELIBMAX": 82, "ELIBEXEC": 83, "EILSEQ":
        84, "ERESTART": 85, "ESTRPIPE": 86, "EUSERS": 87, "ENOTSOCK": 88, "EDESTADDRREQ": 89, "EMSGSIZE": 90,
        "EPROTOTYPE": 91, "ENOPROTOOPT": 92, "EPROTONOSUPPORT": 93, "ESOCKTNOSUPPORT": 94, "EOPNOTSUPP": 95,
        "EPFNOSUPPORT": 96, "EAFNOSUPPORT": 97, "EADDRINUSE": 98, "EADDRNOTAVAIL": 99, "ENETDOWN": 100,
        "ENETUNREACH": 101, "ENETRESET": 102, "ECONNABORTED": 103, "ECONNRESET": 104, "ENOBUFS": 105, "EISCONN":
        106, "ENOTCONN": 107, "ESHUTDOWN": 108, "ETOOMANYREFS": 109, "ETIMEDOUT": 110, "ECONNREFUSED": 111,
        "EHOSTDOWN": 112, "EHOSTUNREACH": 113, "EALREADY": 114, "EINPROGRESS": 115, "ESTALE": 116, "EUCLEAN": 117,
        "ENOTNAM": 118, "ENAVAIL": 119, "EISNAM": 120, "EREMOTEIO": 121, "EDQUOT": 122, "ENOMEDIUM": 123,
        "EMEDIUMTYPE": 124, "ECANCELED": 125, "ENOKEY": 126, "EKEYEXPIRED": 127, "EKEYREVOKED": 128,
        "EKEYREJECTED": 129, "EOWNERDEAD": 130, "ENOTRECOVERABLE": 131, "ERFKILL": 132, "EHWPOISON": 133,
        "EWOULDBLOCK": 11, "EDEADLOCK": 35, "ENOTSUP": 95,
    ]
}
