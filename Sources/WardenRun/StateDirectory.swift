import Foundation
import SystemPackage
import WardenOutput

/// warden's state directory: where each workspace's audit trail lives unless `--events`
/// says otherwise. It is root's, outside every workspace, and never in a plan's write
/// set, so a build cannot rewrite the record of its own run or plant links in it — which
/// it could in a make project, whose whole workspace is build output.
///
/// Layout: `<root>/runs/<workspace name>-<FNV-1a of its path>/warden-events.jsonl` and
/// `warden-metrics.json`; `<root>` is `/var/lib/warden`, or `WARDEN_STATE_DIR` when set
/// to an absolute path.
public enum StateDirectory {
    public static let variable = "WARDEN_STATE_DIR"

    public static func root(environment: [String: String]) -> String {
        if let dir = environment[variable], dir.hasPrefix("/"), dir.count > 1 { return dir }
        return "/var/lib/warden"
    }

    /// The directory of `workspace`'s audit trail.
    public static func forWorkspace(_ workspace: String, environment: [String: String]) -> String {
        let name = (workspace as NSString).lastPathComponent
        let safe = String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" }.prefix(40))
        return root(environment: environment) + "/runs/" + (safe.isEmpty ? "root" : safe) + "-" + fnv1a64Hex(workspace)
    }

    /// Creates the state root and `dir` below it, 0755 and root's. An existing component
    /// that is a symlink or not root's own directory is refused: warden would otherwise
    /// write its audit trail where someone else chose.
    public static func prepare(_ dir: String, environment: [String: String]) throws(WardenFailure) {
        let root = root(environment: environment)
        var path = root
        var components = [root]
        for part in dir.dropFirst(root.count).split(separator: "/") {
            path += "/" + part
            components.append(path)
        }
        for component in components {
            if mkdir(component, 0o755) != 0 && errno != EEXIST {
                throw WardenFailure("cannot create warden's state directory \(component): \(Errno(rawValue: errno))", code: WardenExit.sandbox)
            }
            var st = stat()
            guard lstat(component, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == 0, st.st_mode & 0o022 == 0 else {
                throw WardenFailure("\(component) is not a directory that only root can write (a symlink, or another owner): "
                                    + "warden keeps audit trails there and refuses to use it", code: WardenExit.sandbox)
            }
        }
    }
}
