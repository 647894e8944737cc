import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import WardenSandbox

/// Answers the calls `notify` rules send through the child's seccomp listener: records
/// each one and answers it by the policy (the rule's `answer`, else
/// `syscall.notify_default`; observe mode allows). If warden dies the listener closes
/// and the kernel fails every notified call with ENOSYS: the child never waits on a dead
/// agent (and the run's cgroup is killed anyway).
final class NotifyAgent: @unchecked Sendable {
    private let listener: SeccompListener
    private let policy: EffectivePolicy
    private let audit: RunAudit
    private let runId: String
    private let mode: Mode
    /// The trace object, whose `units` map names each process's unit.
    private let trace: BPFObject?
    private let lock = NSLock()
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)
    /// Calls answered, and those whose task was gone before the answer.
    private(set) var answered: UInt64 = 0
    private(set) var vanished: UInt64 = 0

    init(listener: Int32, policy: EffectivePolicy, audit: RunAudit, runId: String, mode: Mode, trace: BPFObject?) {
        self.trace = trace
        self.listener = SeccompListener(fd: listener)
        self.policy = policy
        self.audit = audit
        self.runId = runId
        self.mode = mode
    }

    func start() {
        let t = Thread { [self] in
            loop()
            done.signal()
        }
        t.name = "warden-notify"
        t.start()
    }

    /// After the child is gone: the thread ends at its next poll, then the listener closes.
    func stop() {
        lock.withLock { stopping = true }
        done.wait()
        close(listener.fd)
    }

    private var shouldStop: Bool { lock.withLock { stopping } }

    private func loop() {
        // Checked after every call, not only when idle: a build that keeps notifying from
        // a background process must not hold the run open once its command has ended.
        while !shouldStop {
            switch listener.receive(timeoutMs: 100) {
            case .notification(let n): answer(n)
            case .idle: continue
            case .closed: return  // no task uses the filter any more
            }
        }
    }

    private func answer(_ n: SeccompListener.Notification) {
        let args = n.args
        let name = Confinement.syscallName(n.nr) ?? "#\(n.nr)"
        let decision = policy.notifyAnswer(syscall: name, args: args, observe: mode == .observe)
        // Read what the record names, then check the call is still pending: the pid may
        // have died and been reused between the notification and the read.
        let comm = (try? String(contentsOfFile: "/proc/\(n.pid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .newlines) ?? "?"
        let tgid = NotifyAgent.tgid(of: n.pid)
        let unit = tgid.flatMap { trace?.unit(ofProcess: $0) }.flatMap { WardenEvent.Unit(rawValue: $0)?.name }
        guard listener.isPending(n.id) else {
            vanished += 1
            return
        }
        if listener.respond(n.id, allow: decision.allow, errno: Int32(decision.errno)) { answered += 1 } else { vanished += 1 }
        var record = NotifyRecord(runId: runId, mode: mode.rawValue, pid: n.pid, comm: comm, syscall: name, nr: n.nr, args: args,
                                  answer: decision.allow ? "allow" : "errno", errno: decision.allow ? nil : decision.errno,
                                  rule: decision.rule?.origin.description)
        record.unit = unit
        try? audit.log.append(record)
    }

    /// The thread group of task `pid` (the notification names the calling thread).
    static func tgid(of pid: UInt32) -> UInt32? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let line = status.split(separator: "\n").first { $0.hasPrefix("Tgid:") }
        return line.flatMap { UInt32($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
    }
}
