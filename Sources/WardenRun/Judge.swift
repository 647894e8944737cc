import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy

/// How the agent judges one tracepoint event against the policy (Audit.swift drains the
/// ring; this decides each record's verdict and policy line).
extension EventAgent {
    /// The answers that mean the kernel refused the call: EACCES (Landlock), EPERM (tier 1,
    /// seccomp) and EROFS (the read-only view outside the write paths, and the read-only
    /// mounts of FilesystemPlan.protected). The trace object counts the same three.
    static func refusal(_ result: Int32) -> Bool { result == -EACCES || result == -EPERM || result == -EROFS }

    /// The verdict and policy line for a tracepoint event. A call the kernel refused
    /// (`refusal`) is denied when the policy forbids it;
    /// one that failed otherwise (ENOENT from a PATH search or a probe) touched nothing
    /// and is not a denial. A call that succeeded is denied only in observe mode ("would
    /// be denied"); in enforce mode the kernel allowed it, so it is recorded as allowed
    /// and the mismatch counted.
    /// Returns the reason when the denial is an expected one (`SystemBaseline.expectedRefusals`).
    func judge(_ e: inout WardenEvent) -> String? {
        // The name as the build passed it: `..` after a symlink goes up from the link's
        // target, which only resolving (not the lexical normalization) gets right.
        let raw = e.pathOrAddr
        if judgeSocket(&e) { return nil }
        e.pathOrAddr = FileDecider.normalize(e.pathOrAddr)
        let op = EventAgent.operation(e.action)
        var d = decider.decide(op, normalized: e.pathOrAddr, read: e.access.contains(.read), write: e.access.contains(.write))
        // A hard link that would give a file rights it lacks is refused with EXDEV, which
        // a link across file systems also gets: the policy tells them apart.
        let permissionRefused = EventAgent.refusal(e.result)
        let refused = permissionRefused || (e.result == -EXDEV && op == .link)
        // Resolved after the fact: the name may have been swapped since, so it proves a
        // denial but never an expected refusal.
        let resolvedLate = judgeResolved(&e, raw: raw, op: op, decision: &d, permissionRefused: permissionRefused)
        let denied = !d.allowed && (refused || (e.result == 0 && !enforce))
        // A path the kernel could not name whole ("?…") cannot be checked against the rules;
        // where Landlock stood in the way (opens, creations, renames) it decided. Metadata
        // changes and unix-socket connects it does not decide: one unnamed counts.
        let unguarded = op == .attr || op == .unixConnect
        let mismatch = !d.allowed && e.result == 0 && enforce && (unguarded || !e.pathOrAddr.hasPrefix("?"))
        if mismatch { mismatches += 1 }
        e.verdict = denied ? .denied : .allowed
        // A mismatch keeps the line, so it can be found in the log: allowed, yet named.
        e.neededPerm = denied || mismatch ? d.needed : ""
        if resolvedLate { return nil }
        if denied && op == .link && e.result == -EXDEV {
            return "a hard link to a file outside the write paths, refused (EXDEV); git and cp then copy instead"
        }
        if denied && op == .create, let rule = expectedCreations.first(where: { $0.path == e.pathOrAddr }) { return rule.why }
        return denied && op != .exec ? SystemBaseline.expectedRefusal(e.pathOrAddr)?.why : nil
    }

    /// Where the name the build passed is not the file (a symlink, /proc/PID/fd/N), judges
    /// what it resolves to: a refused link's file, a refusal of what the policy allows by
    /// name, a metadata change or unix connect the kernel made through a link. true when
    /// the event was renamed to that file.
    func judgeResolved(_ e: inout WardenEvent, raw: String, op: FileDecider.Operation, decision d: inout (allowed: Bool, needed: String),
                       permissionRefused: Bool) -> Bool {
        guard e.pathOrAddr.hasPrefix("/") else { return false }
        let (tgid, pid, access) = (e.tgid, e.pid, e.access)
        // The name resolved as the kernel would (warden sees the same tree), and its decision.
        func resolved() -> (path: String, decision: (allowed: Bool, needed: String)) {
            let path = EventAgent.resolve(EventAgent.procSelf(raw, tgid: tgid, pid: pid))
            return (path, decider.decide(op, normalized: path, read: access.contains(.read), write: access.contains(.write)))
        }
        var resolvedLate = false
        if op == .link {
            // The file a link was refused for may be named through a symlink (linkat with
            // AT_SYMLINK_FOLLOW) or /proc/self/fd/N: judge what the name resolves to.
            let r = resolved()
            if r.path != e.pathOrAddr {
                (e.pathOrAddr, d) = r
                resolvedLate = true
            }
        } else if permissionRefused && d.allowed {
            // The kernel refused what the policy allows by the name the build passed: that
            // name is not the file (a symlink, /proc/PID/fd/N). Judge what it resolves to.
            let r = resolved()
            if !r.decision.allowed {
                (e.pathOrAddr, d) = r
                resolvedLate = true
            } else if enforce {
                // Still unexplained (a link swapped since, a process gone, a permission):
                // a refusal is never recorded as allowed; it counts as a denial.
                d = (false, EventAgent.refusedByKernel + "=" + e.pathOrAddr)
            }
        }
        if e.result == 0 && d.allowed && (op == .attr || op == .unixConnect) {
            // Landlock does not decide these, and the kernel followed the name: a link in
            // the write paths to a file (or a directory above one) outside them names
            // what the call really changed or reached. Judge that.
            let r = resolved()
            if !r.decision.allowed { (e.pathOrAddr, d) = r }
        }
        return resolvedLate
    }

    /// The decider's operation for a tracepoint event's action (a connect here is a unix
    /// socket's: the network layer's are judged by the kernel).
    static func operation(_ action: WardenEvent.Action) -> FileDecider.Operation {
        switch action {
        case .open: return .open
        case .rename: return .rename
        case .unlink: return .unlink
        case .exec: return .exec
        case .create: return .create
        case .attr: return .attr
        case .link: return .link
        case .connect, .listen, .socket: return .unixConnect
        }
    }

    /// Socket events with no path to judge: an abstract unix socket, a refused family, an
    /// inet listener. false: not one of these.
    func judgeSocket(_ e: inout WardenEvent) -> Bool {
        let refused = EventAgent.refusal(e.result)
        switch e.action {
        case .connect where e.pathOrAddr.hasPrefix("@"):
            // Reported only when refused (Landlock's scoping keeps the build from those
            // outside the run). No rule names one: the refusal is it.
            e.verdict = refused ? .denied : .allowed
            e.neededPerm = refused ? EventAgent.refusedByKernel + "=" + e.pathOrAddr : ""
        case .socket:
            // The boundary filter refused the family: no policy line allows one.
            e.verdict = .denied
            e.neededPerm = EventAgent.refusedByKernel + "=" + e.pathOrAddr
        case .listen:
            // An inet listener (unix ones are not reported): no layer refuses it on tier 2,
            // so under net.listen = "deny" one that succeeded is caught — a would-be denial
            // in observe mode, allowed although forbidden (77) in enforce mode.
            e.pathOrAddr = BPFObject.canonical(e.pathOrAddr)
            let forbidden = !listenAllowed
            if forbidden && e.result == 0 && enforce { mismatches += 1 }
            e.verdict = forbidden && (refused || (e.result == 0 && !enforce)) ? .denied : .allowed
            e.neededPerm = forbidden ? PolicyKey.netListen.needed("allow") : ""
        default:
            return false
        }
        return true
    }

    /// The `needed_perm` key of a refusal no policy line explains.
    static let refusedByKernel = "refused_by_kernel"

    /// `/proc/self` and `/proc/thread-self` in a build's name meant the build's process,
    /// not warden's: the event's own.
    static func procSelf(_ path: String, tgid: UInt32, pid: UInt32) -> String {
        if path == "/proc/self" || path.hasPrefix("/proc/self/") { return "/proc/\(tgid)" + path.dropFirst("/proc/self".count) }
        if path == "/proc/thread-self" || path.hasPrefix("/proc/thread-self/") {
            return "/proc/\(tgid)/task/\(pid)" + path.dropFirst("/proc/thread-self".count)
        }
        return path
    }

    /// `path` with symlinks resolved as the kernel would (warden sees the same tree), or,
    /// for a name that does not exist (a file the call would have created), its directory
    /// resolved. Unresolvable: the path itself.
    static func resolve(_ path: String) -> String {
        if let real = realpath(path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let dir = (path as NSString).deletingLastPathComponent
        guard dir != path, let real = realpath(dir, nil) else { return path }
        defer { free(real) }
        let base = String(cString: real)
        return (base == "/" ? "" : base) + "/" + (path as NSString).lastPathComponent
    }
}
