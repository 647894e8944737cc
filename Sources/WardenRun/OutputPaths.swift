import Foundation
import WardenSandbox

/// Where a run writes its audit trail: the workspace's state directory unless the user
/// names files (relative names are taken from the working directory).
public struct OutputPaths: Sendable {
    public var events: String
    public var metrics: String
    public var logAlias: Bool
    /// The state directory, when the event log is in it (warden creates it then).
    public var stateDirectory: String?

    public init(workspace: String, cwd: String, events: String?, metrics: String?, logAlias: Bool, environment: [String: String]) {
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : cwd + "/" + p }
        if let events {
            self.events = absolute(events)
        } else {
            self.events = OutputPaths.defaultEvents(workspace: workspace, environment: environment)
            stateDirectory = StateDirectory.forWorkspace(workspace, environment: environment)
        }
        self.metrics = absolute(metrics ?? (URL(fileURLWithPath: self.events).deletingLastPathComponent().path + "/warden-metrics.json"))
        self.logAlias = logAlias
    }

    /// The event log `run`, `build`, `report` and `status` use when not told otherwise.
    public static func defaultEvents(workspace: String, environment: [String: String]) -> String {
        StateDirectory.forWorkspace(workspace, environment: environment) + "/warden-events.jsonl"
    }
}
