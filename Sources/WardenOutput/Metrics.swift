import Foundation
import SystemPackage

/// The rolling counters of a run, written to `warden-metrics.json`.
/// allowed_total: operations allowed; violations_total: operations the policy does not
/// allow (observe and enforce); blocked_total: violations the kernel actually refused
/// (enforce mode only); lost_events: records the kernel dropped before warden read them.
public struct MetricsSnapshot: Sendable, Codable, Equatable {
    public struct UnitCounts: Sendable, Codable, Equatable {
        public var allowed: UInt64 = 0
        public var violations: UInt64 = 0
        public var blocked: UInt64 = 0
    }

    public var runId: String
    public var mode: String
    public var updatedAt: String
    public var allowedTotal: UInt64 = 0
    public var blockedTotal: UInt64 = 0
    public var violationsTotal: UInt64 = 0
    public var lostEvents: UInt64 = 0
    /// Allowed events identical to one already logged in this run (same action, path,
    /// access, unit and result): counted here instead of written again.
    public var repeatsNotLogged: UInt64 = 0
    /// Enforce mode: operations the kernel allowed although the policy forbids them.
    /// Should stay 0; anything else is a gap between the rules and the kernel layer.
    public var enforceMismatches: UInt64 = 0
    /// Refusals of what the policy forbids and a program is known to recover from
    /// (SystemBaseline.expectedRefusals): logged, neither allowed nor violations.
    public var expectedRefusals: UInt64 = 0
    /// Enforce mode: refusals the kernel counted whose events were lost (the ring
    /// overflowed). Counted as denials: the run ends in 77 when the command succeeded.
    public var unrecordedRefusals: UInt64 = 0
    /// Connection requests dropped at a listener of the run (`net.listen = "deny"`; in
    /// observe mode, those that would have been), SYN retries included; nil when none.
    public var inboundDropped: UInt64?
    /// Events counted but not written to the log (it could not take them: a full disk),
    /// and the first error; nil when every event was written.
    public var unwrittenEvents: UInt64?
    public var writeError: String?
    public var perUnit: [String: UnitCounts] = [:]
    /// What each unit's processes used (from the kernel, when the run ends).
    public var perUnitUsage: [String: UnitUsage]?
    public var perAction: [String: UInt64] = [:]
    public var cpuTimeMs: UInt64 = 0
    public var ioReadBytes: UInt64 = 0
    public var ioWriteBytes: UInt64 = 0
    public var pageFaults: UInt64 = 0
    public var finished = false
    public var assurance = "none"

    public init(runId: String, mode: String, updatedAt: String) {
        self.runId = runId
        self.mode = mode
        self.updatedAt = updatedAt
        for u in WardenEvent.Unit.allCases { perUnit[u.name] = UnitCounts() }
    }

    public mutating func count(_ r: EventRecord) {
        let unit = r.event.unit.name
        perAction[r.event.action.name, default: 0] += 1
        if r.isExpectedRefusal {
            expectedRefusals += 1
        } else if r.isViolation {
            violationsTotal += 1
            perUnit[unit, default: UnitCounts()].violations += 1
            if r.isBlocked {
                blockedTotal += 1
                perUnit[unit, default: UnitCounts()].blocked += 1
            }
        } else {
            allowedTotal += 1
            perUnit[unit, default: UnitCounts()].allowed += 1
        }
    }

    enum CodingKeys: String, CodingKey {
        case runId = "run_id", mode, updatedAt = "updated_at", allowedTotal = "allowed_total"
        case blockedTotal = "blocked_total", violationsTotal = "violations_total", lostEvents = "lost_events", repeatsNotLogged = "repeats_not_logged", enforceMismatches = "enforce_mismatches"
        case expectedRefusals = "expected_refusals", unrecordedRefusals = "unrecorded_refusals", inboundDropped = "inbound_dropped"
        case unwrittenEvents = "unwritten_events", writeError = "write_error"
        case perUnit = "per_unit", perUnitUsage = "per_unit_usage", perAction = "per_action", cpuTimeMs = "cpu_time_ms"
        case ioReadBytes = "io_read_bytes", ioWriteBytes = "io_write_bytes", pageFaults = "page_faults", finished, assurance
    }

    /// Replaces `path` atomically: a reader sees the old snapshot or the new, never half.
    public func write(to path: String, owner: (uid: UInt32, gid: UInt32)? = nil) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(UInt8(ascii: "\n"))
        try writeAtomically(data, to: path, owner: owner)
    }
}

/// The resources one unit's processes used (build scripts, macros, compilers, linkers,
/// the rest), summed by the kernel as each of their threads exits.
public struct UnitUsage: Sendable, Codable, Equatable {
    public var cpuTimeMs: UInt64 = 0
    public var ioReadBytes: UInt64 = 0
    public var ioWriteBytes: UInt64 = 0
    public var pageFaults: UInt64 = 0
    /// The largest process's peak resident set.
    public var peakMemoryBytes: UInt64 = 0

    public init(cpuTimeMs: UInt64 = 0, ioReadBytes: UInt64 = 0, ioWriteBytes: UInt64 = 0, pageFaults: UInt64 = 0, peakMemoryBytes: UInt64 = 0) {
        self.cpuTimeMs = cpuTimeMs
        self.ioReadBytes = ioReadBytes
        self.ioWriteBytes = ioWriteBytes
        self.pageFaults = pageFaults
        self.peakMemoryBytes = peakMemoryBytes
    }

    public var isEmpty: Bool { self == UnitUsage() }

    /// One line: "cpu 1.20 s, peak memory 45.0 MiB, read 3.0 MiB, written 1.0 MiB, 1234 page faults".
    public var summary: String {
        func mib(_ b: UInt64) -> String { String(format: "%.1f MiB", Double(b) / 1_048_576) }
        return String(format: "cpu %.2f s", Double(cpuTimeMs) / 1000) + ", peak memory \(mib(peakMemoryBytes)), read \(mib(ioReadBytes)), "
            + "written \(mib(ioWriteBytes)), \(pageFaults) page faults"
    }

    enum CodingKeys: String, CodingKey {
        case cpuTimeMs = "cpu_time_ms", ioReadBytes = "io_read_bytes", ioWriteBytes = "io_write_bytes", pageFaults = "page_faults"
        case peakMemoryBytes = "peak_memory_bytes"
    }
}

/// Writes a temporary file beside `path`, syncs it and renames it over `path`. The
/// temporary name is unpredictable and created with O_EXCL|O_NOFOLLOW, and ownership is
/// given through the descriptor: warden is root, and the directory may be one a build
/// wrote to, so no name in it is trusted (rename replaces a symlink at `path` itself,
/// never what it points to).
/// `mode`, when given, replaces the default 0640 (through the descriptor, umask aside).
public func writeAtomically(_ data: Data, to path: String, owner: (uid: UInt32, gid: UInt32)? = nil, mode: mode_t? = nil) throws {
    let tmp = path + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    let fd = try FileDescriptor.open(
        FilePath(tmp), .writeOnly, options: [.create, .exclusiveCreate, .noFollow, .closeOnExec],
        permissions: [.ownerReadWrite, .groupRead])
    do {
        _ = try data.withUnsafeBytes { try fd.writeAll($0) }
        if let owner, fchown(fd.rawValue, owner.uid, owner.gid) != 0 { throw Errno(rawValue: errno) }
        if let mode, fchmod(fd.rawValue, mode) != 0 { throw Errno(rawValue: errno) }
        if fsync(fd.rawValue) != 0 { throw Errno(rawValue: errno) }
        try fd.close()
    } catch {
        try? fd.close()
        unlink(tmp)
        throw error
    }
    if rename(tmp, path) != 0 {
        let e = Errno(rawValue: errno)
        unlink(tmp)
        throw e
    }
}
