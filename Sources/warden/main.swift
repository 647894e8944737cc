import ArgumentParser
import Foundation
import WardenRun

// ArgumentParser exits 64 on usage errors; warden documents 2 for every usage or policy
// error, so parsing and dispatch happen here rather than in `main()`.
do {
    var command = try Warden.parseAsRoot()
    if let c = command as? WardenCommand {
        exit(try c.execute())
    }
    try command.run()
    exit(0)
} catch let failure as WardenFailure {
    FileHandle.standardError.write(Data("warden: error: \(failure.message)\n".utf8))
    exit(failure.code)
} catch {
    let code = Warden.exitCode(for: error)
    if code == .success {
        Warden.exit(withError: error)
    }
    FileHandle.standardError.write(Data((Warden.fullMessage(for: error) + "\n").utf8))
    exit(WardenExit.usage)
}
