import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
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
    /// Sees every batch that reaches the log (live metrics, --fail-on).
    var watch: RunWatch?

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
    /// Records are counted before they are written: a log the disk cannot take (a build
    /// that filled it) loses lines, never denials from the counts and the exit code.
    func add(_ records: [EventRecord]) {
        guard !records.isEmpty else { return }
        watch?.recorded(records)
        lock.lock()
        for r in records { snapshot.count(r) }
        let due = Date().timeIntervalSince(lastMetricsWrite) > 0.2
        lock.unlock()
        do {
            try log.append(records.map { try log.encode($0) })
        } catch {
            update {
                $0.unwrittenEvents = ($0.unwrittenEvents ?? 0) + UInt64(records.count)
                if $0.writeError == nil { $0.writeError = "\(error)" }
            }
        }
        if due { try? writeMetrics() }
    }

    func writeMetrics() throws {
        lock.lock()
        snapshot.updatedAt = ISO8601DateFormatter().string(from: Date())
        let copy = snapshot
        lastMetricsWrite = Date()
        lock.unlock()
        try copy.write(to: metricsPath, owner: (0, owner.gid))
    }
}

/// Drains the run's ring buffer on its own thread into the audit trail, in batches;
/// `stop()` drains whatever is left before returning. Connect events come with the
/// kernel's verdict; file and exec events from the tracepoints get theirs here, from the
/// policy (`decider`), since the tracepoints only report what happened.
final class EventAgent: @unchecked Sendable {
    private let ring: BPFObject
    private let audit: RunAudit
    let decider: FileDecider
    let enforce: Bool
    private let lock = NSLock()
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    /// Hashes of the raw records of allowed events already logged (see `rawKey`).
    private var seen = Set<Int>()
    private(set) var decodeErrors = 0
    /// Enforce mode: calls the kernel allowed that the policy forbids (a rule the
    /// decider does not model, or a path it could not name exactly).
    var mismatches: UInt64 = 0
    /// Refused (`refusal`: EACCES/EPERM/EROFS) file and exec records received, repeats included: compared
    /// with the kernel's own count, it shows refusals whose events were lost.
    private(set) var refusalsSeen: UInt64 = 0
    /// Successful metadata changes and unix-socket connects received (the kernel's
    /// `unguarded` count, seen from here).
    private(set) var unguardedSeen: UInt64 = 0
    /// The kernel's counts when the agent starts: the canaries ran in the run's cgroup
    /// (tier 1's are refused by design) and their events were dropped unread, so only
    /// what the counts grow by after this is the build's.
    private let refusalsBefore: UInt64, unguardedBefore: UInt64
    /// Files named like a policy file or manifest (PolicyGuard.names) the build wrote,
    /// created, renamed or removed: a later run may take them for its policy.
    private(set) var policyWrites = Set<String>()
    /// Creations whose refusal is expected (SystemBaseline.expectedCreations).
    var expectedCreations: [PathRule] = []
    /// Names the package of build-script and macro events (agent thread only).
    private var packages = PackageNames()
    /// The trace object's `seen` map: keys of records logged as allowed, whose repeats the
    /// kernel then counts instead of reporting (nil: every repeat reaches the agent).
    private let seenMap: Int32?

    /// `net.listen = "allow"`.
    let listenAllowed: Bool

    /// `ring` owns the run's shared ring buffer (and counts every object's drops).
    init(ring: BPFObject, audit: RunAudit, decider: FileDecider, enforce: Bool, listenAllowed: Bool = false) {
        self.listenAllowed = listenAllowed
        self.ring = ring
        self.audit = audit
        self.decider = decider
        self.enforce = enforce
        seenMap = ring.seenMap
        refusalsBefore = ring.kernelRefusals
        unguardedBefore = ring.kernelUnguarded
    }

    func start() {
        let t = Thread { [self] in
            // The kernel wakes us only when a batch is waiting; poll often enough that the
            // ring never fills between wakeups and that events reach the log promptly.
            while !isStopping { drain(timeoutMs: 10) }
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

    /// A hash of what makes a tracepoint record distinct (unit, action, result, access,
    /// origin, path), taken from the raw bytes so repeats are dropped before any decoding: the
    /// agent must keep up with the kernel. Two distinct records sharing a 64-bit hash
    /// would make the second count as a repeat; at a million records that chance is
    /// about 1 in 10^7 per run, and it can only hide an allowed event, never a denial.
    static func rawKey(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= WardenEvent.v3Size, let base = bytes.baseAddress else { return nil }
        let pathStart = base + WardenEvent.Offset.pathOrAddr
        let nul = memchr(pathStart, 0, WardenEvent.pathCapacity)
        let pathLength = nul.map { UnsafeRawPointer($0) - pathStart } ?? WardenEvent.pathCapacity
        var h = Hasher()
        h.combine(bytes: UnsafeRawBufferPointer(start: base + WardenEvent.Offset.unit, count: 2))  // unit, action
        h.combine(bytes: UnsafeRawBufferPointer(start: base + WardenEvent.Offset.result, count: 12))  // result, access, origin
        h.combine(bytes: UnsafeRawBufferPointer(start: pathStart, count: pathLength))
        return h.finalize()
    }

    @discardableResult
    private func drain(timeoutMs: Int32) -> Int {
        var batch: [EventRecord] = []
        var repeats: UInt64 = 0
        let n = ring.poll(timeoutMs: timeoutMs) { bytes in
            let action = bytes.count > WardenEvent.Offset.action ? bytes[WardenEvent.Offset.action] : 0
            let network = action == WardenEvent.Action.connect.rawValue && bytes.count > WardenEvent.Offset.pathOrAddr
                && !WardenEvent.namesAPath(bytes[WardenEvent.Offset.pathOrAddr])
            if !network, bytes.count >= WardenEvent.Offset.result + 4 {
                let result = bytes.loadUnaligned(fromByteOffset: WardenEvent.Offset.result, as: Int32.self)
                if EventAgent.refusal(result) || action == WardenEvent.Action.socket.rawValue { refusalsSeen += 1 }
                if result >= 0, [WardenEvent.Action.attr, .connect, .listen].map(\.rawValue).contains(action) {
                    unguardedSeen += 1
                }
            }
            let dedupable = action != WardenEvent.Action.connect.rawValue && action != WardenEvent.Action.exec.rawValue
            let key = dedupable ? EventAgent.rawKey(bytes) : nil
            if let key, seen.contains(key) {
                repeats += 1
                return
            }
            do {
                var e = try WardenEvent(bytes: bytes)
                let package = packages.package(of: e)
                let source: String
                var expected: String?
                if network {
                    e.pathOrAddr = BPFObject.canonical(e.pathOrAddr)
                    e.neededPerm = PolicyKey.netHosts.needed(e.pathOrAddr)
                    source = "cgroup-bpf"
                } else {
                    expected = judge(&e)
                    source = "tracepoint"
                    if e.result == 0, e.action != .exec, e.action == .open ? e.access.contains(.write) : true,
                       PolicyGuard.names.contains((e.pathOrAddr as NSString).lastPathComponent) {
                        policyWrites.insert(e.pathOrAddr)
                    }
                    // The same record always gets the same verdict: an allowed one need
                    // not be logged twice. Every denial is logged.
                    if let key, e.verdict == .allowed {
                        seen.insert(key)
                        let kernelKey = WardenEvent.repeatKey(bytes)
                        if let seenMap, kernelKey != 0 { BPFObject.markSeen(seenMap, key: kernelKey) }
                    }
                }
                batch.append(EventRecord(runId: audit.runId, source: source, mode: audit.mode, event: e, expectedRefusal: expected,
                                         package: package))
            } catch {
                decodeErrors += 1
            }
        }
        if repeats > 0 { audit.update { $0.repeatsNotLogged += repeats } }
        audit.add(batch)
        return n
    }

    /// The run's system calls by name (`syscall_counts`), read when the agent stops.
    private(set) var syscallCounts: [String: UInt64] = [:]

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        ring.wake()  // its drain would otherwise wait out the 10 ms poll
        if thread != nil { done.wait() }
        for (nr, n) in ring.syscallCounts() { syscallCounts[Confinement.syscallName(nr) ?? "#\(nr)", default: 0] += n }
        let kernelRefusals = ring.kernelRefusals - refusalsBefore, kernelUnguarded = ring.kernelUnguarded - unguardedBefore
        let kernelRepeats = ring.kernelRepeats
        let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        var usage: [String: UnitUsage] = [:]
        for (i, v) in ring.unitUsage().enumerated() {
            guard let unit = WardenEvent.Unit(rawValue: UInt8(i)) else { continue }
            usage[unit.name] = UnitUsage(cpuTimeMs: v[0] / 1_000_000, ioReadBytes: v[1], ioWriteBytes: v[2], pageFaults: v[3],
                                         peakMemoryBytes: v[4] * pageSize)
        }
        audit.update {
            $0.perUnitUsage = usage
            $0.lostEvents = ring.dropped + UInt64(decodeErrors)
            $0.enforceMismatches = mismatches
            // Repeats of logged records the kernel kept: the same count the agent made before.
            $0.repeatsNotLogged += kernelRepeats
            // Refusals the kernel made whose events never arrived (a flood, a record that
            // could not be decoded): in enforce mode they count as denials.
            if enforce && kernelRefusals > refusalsSeen {
                $0.unrecordedRefusals = kernelRefusals - refusalsSeen
            }
            // Metadata changes and unix connects whose events never arrived cannot be
            // shown to be allowed: each counts as allowed although forbidden.
            if enforce && kernelUnguarded > unguardedSeen {
                $0.enforceMismatches += kernelUnguarded - unguardedSeen
            }
        }
    }
}
