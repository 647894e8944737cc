import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import SystemPackage
import WardenSandbox

/// The policy guard's part in a run: refusing a policy an earlier build wrote, and
/// remembering what this one changed.
extension Runner {
    /// Stops the run while a policy file still holds what an earlier run's build wrote
    /// into it, unless the user accepted that (`--accept-policy-change`); forgets the
    /// change once the file holds something else. The CLI calls it before the policy is
    /// even parsed: what the build wrote must not be read as policy first.
    /// Markers are looked for in the state directories of `cwd` and every directory above
    /// it, and concern the files that would shape a run started there (PolicyGuard).
    public static func refuseAPolicyTheBuildChose(cwd: String, root: String, environment: [String: String], accept: Bool) throws(WardenFailure) {
        let relevant = PolicyGuard.candidates(from: cwd)
        // Markers of cwd's state directory and of every one above (an earlier run's
        // workspace may have been any of them).
        for dir in directoryChain(from: cwd) {
            let path = StateDirectory.forWorkspace(dir, environment: environment) + "/" + PolicyGuard.markerName
            guard let data = FileManager.default.contents(atPath: path),
                  let marker = try? JSONDecoder().decode(PolicyGuard.Marker.self, from: data) else { continue }
            let still = PolicyGuard.stillChanged(marker)
            // The workspace's own marker concerns all it lists (a --policy file too).
            let concerned = still.filter { dir == root || relevant.contains($0) }
            if !concerned.isEmpty && !accept {
                throw WardenFailure("\(concerned.joined(separator: ", ")) changed during run \(marker.runId), written by what ran inside "
                                    + "it; warden does not let a build choose its next policy. Review the change (e.g. git diff), then "
                                    + "run again with --accept-policy-change, or restore the file. Nothing was run.", code: WardenExit.usage)
            }
            // Forgotten once accepted, or once nothing the build wrote is left as it was.
            if geteuid() == 0 && (accept || still.isEmpty) { unlink(path) }
        }
        // A change the last run could not remember (its disk was full) is in its record.
        for dir in directoryChain(from: cwd) where !accept {
            guard let end = lastRunEnd(OutputPaths.defaultEvents(workspace: dir, environment: environment)),
                  end.policyChangeUnremembered == true else { continue }
            let files = (end.policyChanged ?? []).joined(separator: ", ") + (end.policyChangedTotal.map { " (\($0) files in all)" } ?? "")
            throw WardenFailure("run \(end.runId) changed \(files) and could not record it for this run (no room in the state "
                                + "directory); warden does not let a build choose its next policy. Review the change, then run "
                                + "again with --accept-policy-change. Nothing was run.", code: WardenExit.usage)
        }
    }

    /// The last run_end record of an event log, read from its tail: 64 KiB, which holds
    /// an ordinary record, else up to twice the log's reserve (a run_end is at most that).
    /// Every run starts by reading it, so the common case reads little.
    static func lastRunEnd(_ path: String) -> RunEndRecord? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return nil }
        let end = Data("\"type\":\"run_end\"".utf8), start = Data("\"type\":\"run\"".utf8)
        for tail in [UInt64(64 << 10), UInt64(EventLog.reserveBytes) * 2] {
            try? handle.seek(toOffset: size > tail ? size - tail : 0)
            guard let data = try? handle.readToEnd() else { return nil }
            // The first line of a tail that starts mid-file may be cut: never judged.
            for (i, line) in data.split(separator: UInt8(ascii: "\n")).enumerated().reversed() where i > 0 || size <= tail {
                if line.range(of: end) != nil { return try? JSONDecoder().decode(RunEndRecord.self, from: Data(line)) }
                if line.range(of: start) != nil { return nil }  // the last run did not end
            }
            if size <= tail { return nil }
        }
        return nil
    }

    /// Keeps the change in the state directory (for the next run) and says so now.
    /// false when the marker could not be written (a full disk): the next run would not
    /// know, so this one must not end well.
    @discardableResult
    func rememberPolicyChange(_ marker: PolicyGuard.Marker, in stateDirectory: String) -> Bool {
        log("warning: the build changed \(marker.files.keys.sorted().joined(separator: ", ")) during the run; "
            + "the next run in this workspace will refuse it until you review it (--accept-policy-change)")
        do {
            try StateDirectory.prepare(stateDirectory, environment: session.environment)
            let data = try JSONEncoder().encode(marker)
            try writeAtomically(data, to: stateDirectory + "/" + PolicyGuard.markerName, owner: (0, 0))
            return true
        } catch {
            log("error: cannot record the policy change in \(stateDirectory): \(error); the run record carries it for the next run")
            return false
        }
    }
}
