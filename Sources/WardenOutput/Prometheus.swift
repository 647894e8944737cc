import Prometheus

/// A run's metrics in the Prometheus text exposition format: the same text for the live
/// `/metrics` endpoint (`--metrics-port`) and `warden report --format prometheus` (the
/// node-exporter textfile collector). Rendered from a snapshot into a fresh registry
/// each time, so a scrape always equals the counters of the moment and the two outputs
/// cannot drift apart. swift-prometheus writes the format (escaping, TYPE/HELP lines).
public enum PrometheusMetrics {
    /// What labels the `warden_run_info` gauge.
    public struct RunInfo: Sendable, Equatable {
        public var runId: String
        public var mode: String
        public var tier: String
        public var assurance: String
        public init(runId: String, mode: String, tier: String, assurance: String) {
            self.runId = runId
            self.mode = mode
            self.tier = tier
            self.assurance = assurance
        }

        public init(_ record: RunRecord) {
            self.init(runId: record.runId, mode: record.mode, tier: PrometheusMetrics.tier(record.layers), assurance: record.assurance)
        }
    }

    /// Violations per hook and unit, counted from the logged events (the snapshot keeps
    /// per-unit and per-action totals only).
    public struct HookCounts: Sendable, Equatable {
        public var denials: [Key: UInt64] = [:]
        public struct Key: Sendable, Hashable { public var hook: String; public var unit: String }
        public init() {}

        public mutating func count(_ records: [EventRecord]) {
            for r in records where r.isViolation {
                denials[Key(hook: PrometheusMetrics.hook(r.event.action), unit: r.event.unit.name), default: 0] += 1
            }
        }
    }

    /// The layer hook an action goes through (LayerStatus.hook's names).
    public static func hook(_ action: WardenEvent.Action) -> String { Hook(action).rawValue }

    /// "1" (BPF LSM), "2" (Landlock, cgroup-BPF, seccomp) or "none", as the job summary says.
    public static func tier(_ layers: [LayerStatus]) -> String {
        if layers.contains(where: { $0.layer == .bpfLSM && $0.enforcing }) { return "1" }
        if layers.contains(where: { $0.enforcing }) { return "2" }
        return "none"
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func text(_ m: MetricsSnapshot, info: RunInfo, hooks: HookCounts) -> String {
        let registry = PrometheusCollectorRegistry()
        func counter(_ name: String, _ help: String, _ value: UInt64, _ labels: [(String, String)] = []) {
            let c = registry.makeCounter(
                descriptor: MetricNameDescriptor(namespace: "warden", metricName: name, unitName: "total", helpText: help), labels: labels)
            c.increment(by: Int64(clamping: value))
        }
        func gauge(_ name: String, _ help: String, _ value: Double, _ labels: [(String, String)] = []) {
            let g = registry.makeGauge(
                descriptor: MetricNameDescriptor(namespace: "warden", metricName: name, unitName: "", helpText: help), labels: labels)
            g.set(to: value)
        }
        gauge("run_info", "The run being measured: its id, mode, enforcement tier and assurance (always 1).", 1,
              [("run_id", info.runId), ("mode", info.mode), ("tier", info.tier), ("assurance", info.assurance)])
        gauge("run_finished", "1 once the run has ended and the counters are final.", m.finished ? 1 : 0)
        for unit in WardenEvent.Unit.allCases.map(\.name) {
            let u = m.perUnit[unit] ?? MetricsSnapshot.UnitCounts()
            counter("allowed", "Operations the policy allows, by unit.", u.allowed, [("unit", unit)])
            counter("blocked", "Operations the kernel refused because the policy forbids them (enforce mode), by unit.",
                    u.blocked, [("unit", unit)])
        }
        let denialHelp = "Operations the policy does not allow (observe mode: would be denied), by hook and unit."
        if hooks.denials.isEmpty {
            counter("denials", denialHelp, 0, [("hook", "file_open"), ("unit", "other")])
        }
        for (key, n) in hooks.denials.sorted(by: { ($0.key.hook, $0.key.unit) < ($1.key.hook, $1.key.unit) }) {
            counter("denials", denialHelp, n, [("hook", key.hook), ("unit", key.unit)])
        }
        for action in WardenEvent.Action.allCases.map(\.name) {
            counter("operations", "Operations logged, by action (repeats of allowed ones are not logged).", m.perAction[action] ?? 0,
                    [("action", action)])
        }
        counter("violations", "Operations the policy does not allow, all hooks and units.", m.violationsTotal)
        counter("expected_refusals", "Refusals the policy expects and the program recovers from (not violations).", m.expectedRefusals)
        counter("lost_events", "Event records the kernel could not deliver: the counts may be short by this many.", m.lostEvents)
        counter("repeats_not_logged", "Allowed operations identical to one already logged, counted instead of logged.", m.repeatsNotLogged)
        counter("enforce_mismatches", "Enforce mode: operations the kernel allowed although the policy forbids them.", m.enforceMismatches)
        counter("unrecorded_refusals", "Enforce mode: refusals whose events were lost, counted as denials.", m.unrecordedRefusals)
        // Resource use of the whole run, known when the command has ended.
        let cpu = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "warden", metricName: "cpu_seconds", unitName: "total", helpText: "CPU time of the command and its children (user + system)."))
        cpu.increment(by: Double(m.cpuTimeMs) / 1000)
        counter("io_read_bytes", "Bytes the command read from storage.", m.ioReadBytes)
        counter("io_write_bytes", "Bytes the command wrote to storage.", m.ioWriteBytes)
        counter("page_faults", "Page faults of the command and its children.", m.pageFaults)
        // The same by unit (a build script or macro hogging the machine shows here).
        for (unit, u) in (m.perUnitUsage ?? [:]).sorted(by: { $0.key < $1.key }) {
            let c = registry.makeCounter(descriptor: MetricNameDescriptor(
                namespace: "warden", metricName: "unit_cpu_seconds", unitName: "total", helpText: "On-CPU time of a unit's processes."),
                labels: [("unit", unit)])
            c.increment(by: Double(u.cpuTimeMs) / 1000)
            counter("unit_io_read_bytes", "Bytes a unit's processes read from storage.", u.ioReadBytes, [("unit", unit)])
            counter("unit_io_write_bytes", "Bytes a unit's processes wrote to storage.", u.ioWriteBytes, [("unit", unit)])
            counter("unit_page_faults", "Page faults of a unit's processes.", u.pageFaults, [("unit", unit)])
            let g = registry.makeGauge(descriptor: MetricNameDescriptor(
                namespace: "warden", metricName: "unit_peak_memory", unitName: "bytes", helpText: "The largest peak resident set of a unit's processes."),
                labels: [("unit", unit)])
            g.set(to: Double(u.peakMemoryBytes))
        }
        return registry.emitToString()
    }

    /// The metrics of a finished run from its log: `metrics` when it is this run's
    /// snapshot (it has the resource counters), else recounted from the events.
    public static func text(run: EventLogContents.Run, metrics: MetricsSnapshot?) -> String {
        var hooks = HookCounts()
        hooks.count(run.events)
        var m: MetricsSnapshot
        // A snapshot left unfinished by a run that did finish (its disk was full) is stale.
        if let metrics, metrics.runId == run.runId, metrics.finished || run.end == nil {
            m = metrics
        } else {
            m = MetricsSnapshot(runId: run.runId, mode: run.start?.mode ?? "unknown", updatedAt: run.end.map { _ in "" } ?? "")
            for r in run.events { m.count(r) }
            m.lostEvents = run.end?.lostEvents ?? 0
            m.enforceMismatches = run.end?.enforceMismatches ?? 0
            m.unrecordedRefusals = run.end?.unrecordedRefusals ?? 0
            m.finished = run.end != nil
            // With unwritten events the record carries the totals the log falls short of.
            if let n = run.end?.allowedTotal { m.allowedTotal = n }
            if let n = run.end?.violationsTotal { m.violationsTotal = n }
            m.assurance = run.start?.assurance ?? "none"
        }
        let info = run.start.map(RunInfo.init) ?? RunInfo(runId: run.runId, mode: m.mode, tier: "none", assurance: m.assurance)
        return text(m, info: info, hooks: hooks)
    }
}
