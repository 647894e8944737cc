import ArgumentParser
import Foundation
import WardenRun

// ArgumentParser exits 64 on usage errors; warden documents 2 for every usage or policy
// error, so parsing and dispatch happen here rather than in `main()`.
// A closed stdout or stderr (`warden run … | head`) must not kill warden before it has
// cleaned up and finished the audit trail: writes then fail with EPIPE, which is ignored.
signal(SIGPIPE, SIG_IGN)
// Installed as `cargo-warden` (a link or a copy), cargo runs `cargo-warden warden ARGS…`
// for `cargo warden ARGS…`: the subcommand's own name is not an argument.
var arguments = Array(CommandLine.arguments.dropFirst())
if CommandLine.arguments.first.map({ ($0 as NSString).lastPathComponent }) == "cargo-warden", arguments.first == "warden" {
    arguments.removeFirst()
}
do {
    var command = try Warden.parseAsRoot(arguments)
    if let c = command as? WardenCommand {
        exit(try c.execute())
    }
    try command.run()
    exit(0)
} catch let failure as WardenFailure {
    try? FileHandle.standardError.write(contentsOf: Data("warden: error: \(failure.message)\n".utf8))
    exit(failure.code)
} catch {
    let code = Warden.exitCode(for: error)
    if code == .success {
        Warden.exit(withError: error)
    }
    try? FileHandle.standardError.write(contentsOf: Data((Warden.fullMessage(for: error) + "\n").utf8))
    exit(WardenExit.usage)
}
