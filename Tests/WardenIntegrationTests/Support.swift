import Foundation
import Testing
import WardenRun

/// Kernel tests need root. They run when warden's tests run as root, and when
/// WARDEN_REQUIRE_KERNEL_TESTS=1 (CI) they also run without root so that they fail
/// instead of being skipped.
enum Kernel {
    static let required = ProcessInfo.processInfo.environment["WARDEN_REQUIRE_KERNEL_TESTS"] == "1"
    static let isRoot = geteuid() == 0
    static let enabled = isRoot || required

    static func requireRoot() throws {
        if !isRoot {
            Issue.record("kernel test needs root (euid \(geteuid())) and WARDEN_REQUIRE_KERNEL_TESTS=1 forbids skipping it")
            throw CancellationError()
        }
    }
}

/// The warden executable built next to this test bundle.
let wardenPath: String = {
    if let p = ProcessInfo.processInfo.environment["WARDEN_BIN"] { return p }
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    // The test binary may sit inside a .xctest bundle directory.
    while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("warden").path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent("warden").path
}()

struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Directories the tests make (under /tmp and /var/lib), removed when the test process
/// exits, with the state directories warden kept for them as workspaces. Set
/// WARDEN_TEST_KEEP=1 to keep them for a look after a failure.
enum Scratch {
    nonisolated(unsafe) private static var made: [String] = []
    private static let lock = NSLock()
    private static let removeAtExit: Void = { atexit { Scratch.removeAll() } }()

    /// A fresh name, removed at exit whatever is made there.
    static func path(_ tag: String, under parent: String) -> String {
        _ = removeAtExit
        let path = "\(parent)/warden-it-\(tag.isEmpty ? "" : tag + "-")\(UUID().uuidString.prefix(8))"
        lock.withLock { made.append(path) }
        return path
    }

    static func directory(_ tag: String, under parent: String) throws -> String {
        let dir = path(tag, under: parent)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func removeAll() {
        if ProcessInfo.processInfo.environment["WARDEN_TEST_KEEP"] == "1" { return }
        let env = ProcessInfo.processInfo.environment
        for dir in lock.withLock({ made }) {
            // Runs started in a subdirectory have state directories of their own.
            let subdirectories = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).map { dir + "/" + $0 }
            for workspace in [dir] + subdirectories {
                try? FileManager.default.removeItem(atPath: StateDirectory.forWorkspace(workspace, environment: env))
            }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }
}

/// A scratch directory outside /tmp (which the strict baseline lets builds write), for
/// secrets and workspaces that must not be covered by any baseline rule.
func scratchDir(_ tag: String = "") throws -> String {
    try Scratch.directory(tag, under: "/var/lib")
}

func makeDir(_ files: [String: String] = [:]) throws -> String {
    let dir = try Scratch.directory("", under: "/tmp")
    for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
    return dir
}

/// Environment for warden in tests: the test's own, minus sudo's variables (set
/// explicitly by the tests that want them).
func baseEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    for k in ["SUDO_UID", "SUDO_GID", "SUDO_USER", "SUDO_COMMAND"] { env[k] = nil }
    env.merge(extra) { $1 }
    return env
}

func startWarden(_ args: [String], cwd: String, env: [String: String] = baseEnvironment(), prefix: [String] = []) throws -> (Process, Pipe, Pipe) {
    try startProcess(prefix.isEmpty ? wardenPath : prefix[0], prefix.isEmpty ? args : Array(prefix.dropFirst()) + [wardenPath] + args, cwd: cwd, env: env)
}

/// Starts `executable` with its output on pipes and no input; the caller reads and waits.
func startProcess(_ executable: String, _ args: [String], cwd: String, env: [String: String] = baseEnvironment()) throws -> (Process, Pipe, Pipe) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return (p, out, err)
}

func warden(_ args: [String], cwd: String, env: [String: String] = baseEnvironment(), prefix: [String] = []) throws -> Outcome {
    let (p, out, err) = try startWarden(args, cwd: cwd, env: env, prefix: prefix)
    // Read both pipes concurrently so a chatty child cannot block on a full pipe.
    nonisolated(unsafe) var errData = Data()
    let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !reader.isFinished { usleep(1000) }
    return Outcome(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
}

/// Polls `condition` every 10 ms for up to `seconds`: a deadline for something the test
/// watches happen, generous because two other builds may share the machine's cores.
func eventually(_ seconds: Double = 30, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A process is gone when /proc has no entry for it, or only a zombie waiting for its reaper.
func processIsGone(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    guard let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state == "Z" || state == "X"
}

func read(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}

/// A make project (hello.c, Makefile) with the make preset from `warden init`, outside
/// /tmp (which strict policies do not cover).
func makeProject() throws -> String {
    let dir = try scratchDir("make")
    try "int main(void) { return 0; }\n".write(toFile: dir + "/hello.c", atomically: true, encoding: .utf8)
    try "hello: hello.c\n\tcc -O2 -o hello hello.c\n".write(toFile: dir + "/Makefile", atomically: true, encoding: .utf8)
    #expect(try warden(["init"], cwd: dir).status == 0)
    return dir
}

/// Runs a built program outside warden and returns what it printed.
func output(of program: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    p.waitUntilExit()
    return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
}

/// The event log a run in `dir` writes by default: in warden's state directory.
func eventLogPath(_ dir: String) -> String {
    OutputPaths.defaultEvents(workspace: dir, environment: ProcessInfo.processInfo.environment)
}

/// The metrics snapshot beside it.
func metricsPath(_ dir: String) -> String {
    (eventLogPath(dir) as NSString).deletingLastPathComponent + "/warden-metrics.json"
}

/// Runs a program outside warden (a control, or set-up) and returns its status and its
/// standard output and error together.
func runProcess(_ executable: String, _ arguments: [String], cwd: String = "/", env: [String: String]? = nil) throws -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    if let env { p.environment = env }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
