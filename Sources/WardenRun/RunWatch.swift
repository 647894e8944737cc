import Foundation
import WardenOutput

/// Follows one run as it happens, for what reads it while it runs (the `/metrics` and
/// `/events` endpoints) and right after it (`--fail-on`). The Runner feeds it at three
/// points (started, each logged batch, finished); it never changes what the run does.
/// Thread-safe: the agent thread writes, the HTTP server's thread reads.
public final class RunWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var record: RunRecord?
    private var snapshot: (@Sendable () -> MetricsSnapshot)?
    private var final: MetricsSnapshot?
    private var hooks = PrometheusMetrics.HookCounts()
    private var recent: [EventRecord] = []
    private var recentStart = 0
    private var violationRecords: [EventRecord] = []
    /// How many recent events `/events` keeps.
    public let recentCapacity: Int
    /// Violations kept for `--fail-on new-rules` (beyond it only counted).
    public let violationCapacity = 100_000

    /// Called (on the agent thread) with each batch's violations, as they are logged.
    public var onViolations: (@Sendable ([EventRecord]) -> Void)?

    public init(recentCapacity: Int = 256) {
        self.recentCapacity = recentCapacity
    }

    func started(_ record: RunRecord, metrics: @escaping @Sendable () -> MetricsSnapshot) {
        lock.lock()
        self.record = record
        snapshot = metrics
        lock.unlock()
    }

    func recorded(_ records: [EventRecord]) {
        if let onViolations {
            let v = records.filter(\.isViolation)
            if !v.isEmpty { onViolations(v) }
        }
        lock.lock()
        defer { lock.unlock() }
        hooks.count(records)
        for r in records {
            if r.isViolation && violationRecords.count < violationCapacity { violationRecords.append(r) }
            if recent.count < recentCapacity {
                recent.append(r)
            } else {
                recent[recentStart] = r
                recentStart = (recentStart + 1) % recentCapacity
            }
        }
    }

    func finished(_ metrics: MetricsSnapshot) {
        lock.lock()
        final = metrics
        lock.unlock()
    }

    public var runId: String? {
        lock.lock()
        defer { lock.unlock() }
        return record?.runId
    }

    public var runRecord: RunRecord? {
        lock.lock()
        defer { lock.unlock() }
        return record
    }

    /// The violations logged so far (up to `violationCapacity`).
    public var violations: [EventRecord] {
        lock.lock()
        defer { lock.unlock() }
        return violationRecords
    }

    /// The counters of the moment, or nil before the run started.
    public var metrics: MetricsSnapshot? {
        lock.lock()
        let (f, s) = (final, snapshot)
        lock.unlock()
        return f ?? s?()
    }

    /// `/metrics`: nil before the run has started.
    public func prometheusText() -> String? {
        guard let m = metrics else { return nil }
        lock.lock()
        let (r, h) = (record, hooks)
        lock.unlock()
        guard let r else { return nil }
        return PrometheusMetrics.text(m, info: PrometheusMetrics.RunInfo(r), hooks: h)
    }

    /// `/events`: the most recent events, oldest first, as a JSON array of event lines.
    public func recentEventsJSON() -> Data {
        lock.lock()
        let list = Array(recent[recentStart...]) + Array(recent[..<recentStart])
        lock.unlock()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = (try? encoder.encode(list)) ?? Data("[]".utf8)
        data.append(UInt8(ascii: "\n"))
        return data
    }
}
