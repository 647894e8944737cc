import Foundation
import WardenBPF
import WardenOutput
import WardenSandbox

/// The audit trail of one run: the event log and the metrics snapshot, fed by the
/// supervisor and by the agent thread draining the kernel's ring buffer.
final class RunAudit: @unchecked Sendable {
    let log: EventLog
    let runId: String
    let mode: String
    private let metricsPath: String
    private let owner: Identity
    private let lock = NSLock()
    private var snapshot: MetricsSnapshot
    private var lastMetricsWrite = Date.distantPast

    init(log: EventLog, runId: String, mode: String, metricsPath: String, owner: Identity, startedAt: String) {
        self.log = log
        self.runId = runId
        self.mode = mode
        self.metricsPath = metricsPath
        self.owner = owner
        snapshot = MetricsSnapshot(runId: runId, mode: mode, updatedAt: startedAt)
    }

    var metrics: MetricsSnapshot {
        lock.lock()
        defer { lock.unlock() }
        return snapshot
    }

    func update(_ body: (inout MetricsSnapshot) -> Void) {
        lock.lock()
        body(&snapshot)
        lock.unlock()
    }

    /// Appends one batch and counts it; the snapshot is rewritten at most every 200 ms
    /// while events stream in (and always by `writeMetrics`).
    func add(_ records: [EventRecord]) throws {
        guard !records.isEmpty else { return }
        try log.append(records.map { try log.encode($0) })
        lock.lock()
        for r in records { snapshot.count(r) }
        let due = Date().timeIntervalSince(lastMetricsWrite) > 0.2
        lock.unlock()
        if due { try writeMetrics() }
    }

    func writeMetrics() throws {
        lock.lock()
        snapshot.updatedAt = ISO8601DateFormatter().string(from: Date())
        let copy = snapshot
        lastMetricsWrite = Date()
        lock.unlock()
        try copy.write(to: metricsPath)
        if owner.switchIDs { chown(metricsPath, owner.uid, owner.gid) }
    }
}

/// Drains the network layer's ring buffer on its own thread into the audit trail, in
/// batches; `stop()` drains whatever is left before returning.
final class EventAgent: @unchecked Sendable {
    private let net: NetLayer
    private let audit: RunAudit
    private let lock = NSLock()
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    private(set) var decodeErrors = 0

    init(net: NetLayer, audit: RunAudit) {
        self.net = net
        self.audit = audit
    }

    func start() {
        let t = Thread { [self] in
            while !isStopping { drain(timeoutMs: 100) }
            // Everything the kernel queued before the programs were detached.
            while drain(timeoutMs: 0) > 0 {}
            done.signal()
        }
        t.name = "warden-agent"
        thread = t
        t.start()
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    @discardableResult
    private func drain(timeoutMs: Int32) -> Int {
        var batch: [EventRecord] = []
        let n = net.poll(timeoutMs: timeoutMs) { bytes in
            do {
                var e = try WardenEvent(bytes: bytes)
                if e.action == .connect {
                    e.pathOrAddr = NetLayer.canonical(e.pathOrAddr)
                    e.neededPerm = "allow.net.hosts=" + e.pathOrAddr
                }
                batch.append(EventRecord(runId: audit.runId, source: "cgroup-bpf", mode: audit.mode, event: e))
            } catch {
                decodeErrors += 1
            }
        }
        try? audit.add(batch)
        return n
    }

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        if thread != nil { done.wait() }
        audit.update { $0.lostEvents = net.dropped + UInt64(decodeErrors) }
    }
}
