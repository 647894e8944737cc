import WardenPolicy

/// The lines of `warden-events.jsonl`. Each line is one JSON object whose "type" says
/// what it is: "run" opens a run, "event" is one audited operation, "run_end" closes it.

/// What a run guards, as the run record, status and metrics name it.
public enum Hook: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case fileOpen = "file_open", renameUnlink = "rename_unlink", exec, connect, syscalls
    public var description: String { rawValue }

    /// The hook an audited action goes through.
    public init(_ action: WardenEvent.Action) {
        switch action {
        case .open: self = .fileOpen
        case .rename, .unlink, .create, .attr, .link: self = .renameUnlink
        case .exec: self = .exec
        case .socket: self = .syscalls
        case .connect, .listen: self = .connect
        }
    }
}

/// The kernel mechanism that enforces or watches a hook.
public enum Layer: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case bpfLSM = "bpf-lsm", landlock, cgroupBPF = "cgroup-bpf", seccomp, tracepoint, supervisor, none
    public var description: String { rawValue }
}

/// How a hook is covered in a run: which layer enforces or observes it, or why none does.
public struct LayerStatus: Sendable, Codable, Equatable {
    public var hook: Hook
    public var layer: Layer
    public var enforcing: Bool
    /// Whether the policy restricts this hook at all (enforce mode needs a layer then).
    public var restricted: Bool
    public var detail: String
    /// Ways past this layer that stay open on this tier ("partial" enforcement), said by
    /// doctor, status, the run record and the report.
    public var openRoutes: [String]?

    public init(hook: Hook, layer: Layer, enforcing: Bool, restricted: Bool = true, detail: String, openRoutes: [String]? = nil) {
        self.hook = hook
        self.layer = layer
        self.enforcing = enforcing
        self.restricted = restricted
        self.detail = detail
        self.openRoutes = openRoutes
    }

    enum CodingKeys: String, CodingKey {
        case hook, layer, enforcing, restricted, detail, openRoutes = "open_routes"
    }

    /// "  hook: layer (enforcing) — detail", then a "    partial: …" line per open route.
    public func text(notEnforcing: String = "") -> String {
        var out = "  \(hook): \(layer)\(enforcing ? " (enforcing)" : notEnforcing) — \(detail)\n"
        for r in openRoutes ?? [] { out += "    partial: \(r)\n" }
        return out
    }
}

/// One process-hardening step of a run. The command starts only after every "applied"
/// step succeeded in the child; a step that fails aborts the run before exec and is
/// recorded in `run_end.setup_failure`.
public struct HardeningStep: Sendable, Codable, Equatable {
    public var primitive: String
    public var state: String  // "applied" or "skipped"
    public var detail: String

    public init(_ primitive: String, applied: Bool, _ detail: String) {
        self.primitive = primitive
        self.state = applied ? "applied" : "skipped"
        self.detail = detail
    }
}

public struct RunRecord: Sendable, Codable, Equatable {
    public var type = "run"
    public var runId: String
    public var startedAt: String
    public var command: [String]
    public var workspace: String
    public var mode: String
    public var buildSystem: String
    public var policySources: [String]
    public var policyFile: String?
    public var cgroup: String
    public var uid: UInt32
    public var layers: [LayerStatus]
    public var warnings: [String]
    /// `allow.net.hosts` entries and the addresses each stood for when the run started.
    public var netHosts: [String: [String]]
    public var hardening: [HardeningStep] = []
    /// "full": enforce mode with every hook the policy restricts enforced; "none": observe.
    public var assurance: String = "none"

    public init(runId: String, startedAt: String, command: [String], workspace: String, mode: String,
                buildSystem: String, policySources: [String], policyFile: String?, cgroup: String, uid: UInt32,
                layers: [LayerStatus], warnings: [String], netHosts: [String: [String]] = [:]) {
        self.runId = runId
        self.startedAt = startedAt
        self.command = command
        self.workspace = workspace
        self.mode = mode
        self.buildSystem = buildSystem
        self.policySources = policySources
        self.policyFile = policyFile
        self.cgroup = cgroup
        self.uid = uid
        self.layers = layers
        self.warnings = warnings
        self.netHosts = netHosts
    }

    enum CodingKeys: String, CodingKey {
        case type, runId = "run_id", startedAt = "started_at", command, workspace, mode
        case buildSystem = "build_system", policySources = "policy_sources", policyFile = "policy_file"
        case cgroup, uid, layers, warnings, netHosts = "net_hosts", hardening, assurance
    }
}

public struct RunEndRecord: Sendable, Codable, Equatable {
    public var type = "run_end"
    public var runId: String
    public var exitCode: Int32
    public var childStatus: String
    public var durationMs: UInt64
    public var lostEvents: UInt64
    /// The hardening step that failed in the child (the command then never ran).
    public var setupFailure: String?
    /// Policy files whose content changed during the run (the next run refuses them): the
    /// first `policyChangedShown`, and how many there were when more.
    public var policyChanged: [String]?
    public var policyChangedTotal: Int?
    /// The change could not be remembered for the next run (no room for the marker): the
    /// next run reads this record instead.
    public var policyChangeUnremembered: Bool?
    public static let policyChangedShown = 100
    /// Enforce mode: operations the kernel allowed although the policy forbids them.
    public var enforceMismatches: UInt64?
    /// Enforce mode: refusals the kernel counted whose events were lost (denials).
    public var unrecordedRefusals: UInt64?
    /// Connection requests dropped at a listener of the run (MetricsSnapshot.inboundDropped).
    public var inboundDropped: UInt64?
    /// What each unit's processes used (UnitUsage), by unit name.
    public var perUnitUsage: [String: UnitUsage]?
    /// Events counted (in the exit code and the totals) but not written to this log, and
    /// the first error (a full disk).
    public var unwrittenEvents: UInt64?
    public var writeError: String?
    /// With unwritten events, the run's totals (the log's lines fall short of them).
    public var allowedTotal: UInt64?
    public var violationsTotal: UInt64?
    /// Every system call the run made (seccomp's refusals excepted), by name: how often.
    /// What `warden seccomp generate` makes an allowlist of.
    public var syscalls: [String: UInt64]?

    public init(runId: String, exitCode: Int32, childStatus: String, durationMs: UInt64, lostEvents: UInt64, setupFailure: String? = nil) {
        self.setupFailure = setupFailure
        self.runId = runId
        self.exitCode = exitCode
        self.childStatus = childStatus
        self.durationMs = durationMs
        self.lostEvents = lostEvents
    }

    enum CodingKeys: String, CodingKey {
        case type, runId = "run_id", exitCode = "exit_code", childStatus = "child_status"
        case durationMs = "duration_ms", lostEvents = "lost_events", setupFailure = "setup_failure"
        case policyChanged = "policy_changed", enforceMismatches = "enforce_mismatches", unrecordedRefusals = "unrecorded_refusals"
        case inboundDropped = "inbound_dropped"
        case perUnitUsage = "per_unit_usage", unwrittenEvents = "unwritten_events", writeError = "write_error", syscalls
        case policyChangedTotal = "policy_changed_total", policyChangeUnremembered = "policy_change_unremembered", allowedTotal = "allowed_total", violationsTotal = "violations_total"
    }
}

/// One event line: the ABI fields under their C names (enums as numbers, as in the
/// ABI, plus `*_name` strings), the run it belongs to and which layer produced it.
public struct EventRecord: Sendable, Codable, Equatable {
    public var type = "event"
    public var runId: String
    public var source: String
    public var mode: String
    public var event: WardenEvent
    /// Set on a denial the policy expects and the program recovers from (libuuid's clock
    /// file): still refused and logged, with this reason, but not a violation.
    public var expectedRefusal: String?
    /// The package whose build script or macro did this (PackageNames), when known.
    public var package: String?

    public init(runId: String, source: String, mode: String, event: WardenEvent, expectedRefusal: String? = nil,
                package: String? = nil) {
        self.runId = runId
        self.source = source
        self.mode = mode
        self.event = event
        self.expectedRefusal = expectedRefusal
        self.package = package
    }

    enum CodingKeys: String, CodingKey {
        case type, runId = "run_id", source, mode, pid, tgid, timeNs = "time_ns"
        case unit, unitName = "unit_name", action, actionName = "action_name", verdict, verdictName = "verdict_name"
        case containerId = "container_id", caps, pathOrAddr = "path_or_addr", neededPerm = "needed_perm"
        case result, access, expectedRefusal = "expected_refusal", origin, package
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(runId, forKey: .runId)
        try c.encode(source, forKey: .source)
        try c.encode(mode, forKey: .mode)
        try c.encode(event.pid, forKey: .pid)
        try c.encode(event.tgid, forKey: .tgid)
        try c.encode(event.timeNs, forKey: .timeNs)
        try c.encode(event.unit.rawValue, forKey: .unit)
        try c.encode(event.unit.name, forKey: .unitName)
        try c.encode(event.action.rawValue, forKey: .action)
        try c.encode(event.action.name, forKey: .actionName)
        try c.encode(event.verdict.rawValue, forKey: .verdict)
        try c.encode(event.verdict.name, forKey: .verdictName)
        try c.encode(event.containerId, forKey: .containerId)
        try c.encode(event.caps, forKey: .caps)
        try c.encode(event.pathOrAddr, forKey: .pathOrAddr)
        try c.encode(event.neededPerm, forKey: .neededPerm)
        try c.encode(event.result, forKey: .result)
        try c.encode(event.access.names, forKey: .access)
        try c.encodeIfPresent(expectedRefusal, forKey: .expectedRefusal)
        if event.origin != 0 { try c.encode(event.origin, forKey: .origin) }
        try c.encodeIfPresent(package, forKey: .package)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runId = try c.decode(String.self, forKey: .runId)
        source = try c.decode(String.self, forKey: .source)
        mode = try c.decode(String.self, forKey: .mode)
        func e<E: RawRepresentable>(_ key: CodingKeys) throws -> E where E.RawValue == UInt8 {
            let raw = try c.decode(UInt8.self, forKey: key)
            guard let v = E(rawValue: raw) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "unknown value \(raw)")
            }
            return v
        }
        event = WardenEvent(
            pid: try c.decode(UInt32.self, forKey: .pid), tgid: try c.decode(UInt32.self, forKey: .tgid),
            timeNs: try c.decode(UInt64.self, forKey: .timeNs), unit: try e(.unit), action: try e(.action),
            verdict: try e(.verdict), containerId: try c.decode(UInt64.self, forKey: .containerId),
            caps: try c.decode(UInt64.self, forKey: .caps), pathOrAddr: try c.decode(String.self, forKey: .pathOrAddr),
            neededPerm: try c.decode(String.self, forKey: .neededPerm),
            result: try c.decodeIfPresent(Int32.self, forKey: .result) ?? 0,
            access: WardenEvent.Access(names: try c.decodeIfPresent([String].self, forKey: .access) ?? []),
            origin: try c.decodeIfPresent(UInt32.self, forKey: .origin) ?? 0)
        expectedRefusal = try c.decodeIfPresent(String.self, forKey: .expectedRefusal)
        package = try c.decodeIfPresent(String.self, forKey: .package)
    }

    /// A denial in enforce mode was blocked; in observe mode it only would have been.
    /// An expected refusal is neither: the program has a fallback and the build is fine.
    public var isViolation: Bool { event.verdict == .denied && expectedRefusal == nil }
    public var isBlocked: Bool { isViolation && mode == Mode.enforce.rawValue }
    public var isExpectedRefusal: Bool { event.verdict == .denied && expectedRefusal != nil }
}

/// One call a `notify` rule sent to warden's agent, and the answer it got.
public struct NotifyRecord: Codable, Sendable, Equatable {
    public var type = "syscall_notify"
    public var runId: String
    public var mode: String
    public var pid: UInt32
    /// The process's name at the time of the call (checked still pending after reading it).
    public var comm: String
    /// Its unit as the trace layer classified it (build_script, proc_macro, …), when known.
    public var unit: String?
    public var syscall: String
    public var nr: Int32
    public var args: [UInt64]
    /// "allow", or "errno" with `errno` the value the call failed with.
    public var answer: String
    public var errno: UInt32?
    /// The rule that sent it (file:line).
    public var rule: String?

    public init(runId: String, mode: String, pid: UInt32, comm: String, syscall: String, nr: Int32, args: [UInt64],
                answer: String, errno: UInt32?, rule: String?) {
        self.runId = runId
        self.mode = mode
        self.pid = pid
        self.comm = comm
        self.syscall = syscall
        self.nr = nr
        self.args = args
        self.answer = answer
        self.errno = errno
        self.rule = rule
    }

    enum CodingKeys: String, CodingKey {
        case type, runId = "run_id", mode, pid, comm, unit, syscall, nr, args, answer, errno, rule
    }
}
