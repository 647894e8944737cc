import CWardenShim
import Foundation
import SystemPackage

/// A layer is trusted only once a process under it was refused something the policy
/// forbids: each canary is one such attempt, made by a child that starts inside the run's
/// cgroup (the BPF layers) or applies the Landlock ruleset first.
public struct Canary: Sendable {
    public enum Operation: Sendable, Equatable {
        case open(String), exec(String), mkdir(String), connect(port: UInt16)
    }

    public enum Outcome: Sendable, Equatable {
        /// Refused as the layer refuses (EACCES from Landlock, EPERM from BPF).
        case refused
        /// Not refused: the layer attached but does not deny.
        case wentThrough
        /// Failed some other way: proves nothing about the layer.
        case failed(Errno)
        /// The canary itself could not run (clone3, applying the ruleset).
        case couldNotRun(Errno)
    }

    public let operation: Operation
    let cgroupFD: Int32
    let rulesetFD: Int32
    let refusedErrno: Int32

    /// Under a Landlock ruleset, from warden's own cgroup.
    public static func landlock(ruleset: Int32, _ operation: Operation) -> Canary {
        Canary(operation: operation, cgroupFD: -1, rulesetFD: ruleset, refusedErrno: EACCES)
    }

    /// Inside the run's cgroup, outside any Landlock domain: the BPF LSM programs refuse
    /// with EPERM.
    public static func lsm(cgroup: Int32, _ operation: Operation) -> Canary {
        Canary(operation: operation, cgroupFD: cgroup, rulesetFD: -1, refusedErrno: EPERM)
    }

    /// A connect to 127.0.0.1:`port` inside the run's cgroup: the connect hooks refuse
    /// with EPERM.
    public static func network(cgroup: Int32, port: UInt16) -> Canary {
        Canary(operation: .connect(port: port), cgroupFD: cgroup, rulesetFD: -1, refusedErrno: EPERM)
    }

    public func run() -> Outcome {
        func go(_ path: UnsafePointer<CChar>?) -> Outcome {
            var c = warden_canary(cgroup_fd: cgroupFD, ruleset_fd: rulesetFD, op: 0, path: path, port: 0, refused_errno: refusedErrno)
            switch operation {
            case .open: c.op = Int32(WARDEN_CANARY_OPEN.rawValue)
            case .exec: c.op = Int32(WARDEN_CANARY_EXEC.rawValue)
            case .mkdir: c.op = Int32(WARDEN_CANARY_MKDIR.rawValue)
            case .connect(let port):
                c.op = Int32(WARDEN_CANARY_CONNECT.rawValue)
                c.port = port
            }
            var failedErrno: Int32 = 0
            let r = warden_canary_run(&c, &failedErrno)
            if r < 0 { return .couldNotRun(Errno(rawValue: -r)) }
            if r == Int32(WARDEN_CANARY_REFUSED.rawValue) { return .refused }
            if r == Int32(WARDEN_CANARY_FAILED.rawValue) { return .failed(Errno(rawValue: failedErrno)) }
            return .wentThrough
        }
        switch operation {
        case .open(let p), .exec(let p), .mkdir(let p): return p.withCString { go($0) }
        case .connect: return go(nil)
        }
    }

    /// Runs every canary at once (each is a fork and one syscall or exec; together they
    /// cost the slowest one) and returns their outcomes in order.
    public static func runAll(_ canaries: [Canary]) -> [Outcome] {
        guard canaries.count > 1 else { return canaries.map { $0.run() } }
        let results = Results(count: canaries.count)
        DispatchQueue.concurrentPerform(iterations: canaries.count) { i in results.set(i, canaries[i].run()) }
        return results.all
    }

    private final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Outcome]
        init(count: Int) { values = Array(repeating: .wentThrough, count: count) }
        func set(_ i: Int, _ v: Outcome) {
            lock.lock()
            values[i] = v
            lock.unlock()
        }
        var all: [Outcome] {
            lock.lock()
            defer { lock.unlock() }
            return values
        }
    }
}
