import Foundation
import Testing
import WardenOutput
import WardenRun

/// A build that fills the disk under its workspace and warden's state directory, then
/// does what the policy forbids: the denials still end the run in 77, and the run record
/// is still written, saying how many events could not be.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct DiskFullTests {
    /// An 8 MiB file system holding a make workspace and warden's state directory.
    func smallDisk() throws -> (root: String, ws: String, state: String) {
        let root = try scratchDir("disk")
        #expect(mount("tmpfs", root, "tmpfs", 0, "size=8m,mode=0755") == 0, "mount: \(String(cString: strerror(errno)))")
        let ws = root + "/ws", state = root + "/state"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try "net.default = \"allow\"\n".write(toFile: ws + "/warden.toml", atomically: true, encoding: .utf8)
        return (root, ws, state)
    }

    @Test func aFullDiskCannotHideADenial() throws {
        try Kernel.requireRoot()
        let (root, ws, state) = try smallDisk()
        defer { umount2(root, Int32(MNT_DETACH)) }
        let secretDir = try scratchDir("secret")
        try "SECRET\n".write(toFile: secretDir + "/s", atomically: true, encoding: .utf8)
        let env = baseEnvironment([StateDirectory.variable: state])
        // Fill everything the build may write on that filesystem, then read the secret
        // many times: none of those events fits on the disk any more.
        let attack = "head -c 64000000 /dev/zero > fill 2>/dev/null; "
            + "for i in $(seq 1 100); do cat \(secretDir)/s$i 2>/dev/null; cat \(secretDir)/s 2>/dev/null; done; exit 0"
        let r = try warden(["run", "--", "sh", "-c", attack], cwd: ws, env: env)
        var fs = statvfs()
        #expect(statvfs(root, &fs) == 0 && UInt64(fs.f_bavail) * UInt64(fs.f_bsize) < 64 << 10, "the control: the build filled the disk")
        #expect(r.status == 77, "denials whose events could not be written still count: \(r.stderr)")
        #expect(r.stderr.contains("could not be written"), "\(r.stderr)")
        let log = try EventLogContents.read(path: OutputPaths.defaultEvents(workspace: ws, environment: env))
        let end = try #require(log.runs.last?.end, "the run record is written even on a full disk")
        #expect(end.exitCode == 77)
        #expect((end.unwrittenEvents ?? 0) > 0 && end.writeError?.contains("No space left") == true, "\(end)")
        let report = try warden(["report"], cwd: ws, env: env)
        #expect(report.stdout.contains("could not be written"), "\(report.stdout)")
        // The totals are the run's, not the lines the log could take.
        #expect(report.stdout.range(of: #"denied [0-9]{3,}\)"#, options: .regularExpression) != nil, "\(report.stdout)")
        let prometheus = try warden(["report", "--format", "prometheus"], cwd: ws, env: env).stdout
        #expect(prometheus.range(of: #"\nwarden_violations_total [0-9]{3,}\n"#, options: .regularExpression) != nil, "\(prometheus)")
    }

    /// The run record fits the space kept for it whatever the build planted: the list of
    /// changed policy files in it is bounded (the marker for the next run keeps them all).
    @Test func aRunRecordFitsItsReserveWhateverTheBuildPlanted() throws {
        try Kernel.requireRoot()
        let (root, ws, state) = try smallDisk()
        defer { umount2(root, Int32(MNT_DETACH)) }
        let env = baseEnvironment([StateDirectory.variable: state])
        let plant = "for i in $(seq 1 150); do mkdir d$i && echo '[package]' > d$i/Cargo.toml; done; "
            + "head -c 64000000 /dev/zero > fill 2>/dev/null; exit 0"
        _ = try warden(["run", "--", "sh", "-c", plant], cwd: ws, env: env)
        let end = try #require(try EventLogContents.read(path: OutputPaths.defaultEvents(workspace: ws, environment: env)).runs.last?.end)
        #expect(end.policyChanged?.count == RunEndRecord.policyChangedShown && end.policyChangedTotal == 150, "\(end)")
    }

    /// A manifest planted in the workspace makes the next run refuse; when the disk is too
    /// full to remember that, this run cannot end in 0.
    @Test func aPolicyChangeThatCannotBeRememberedFailsTheRun() throws {
        try Kernel.requireRoot()
        let (root, ws, state) = try smallDisk()
        defer { umount2(root, Int32(MNT_DETACH)) }
        let env = baseEnvironment([StateDirectory.variable: state])
        let plant = "mkdir sub && echo '[package]' > sub/Cargo.toml && head -c 64000000 /dev/zero > fill 2>/dev/null; exit 0"
        let r = try warden(["run", "--", "sh", "-c", plant], cwd: ws, env: env)
        #expect(read(ws + "/sub/Cargo.toml") == "[package]\n", "the control: the build planted a manifest")
        #expect(r.stderr.contains("the run record carries it for the next run"), "\(r.stderr)")
        #expect(r.status == 77, "\(r.stderr)")
        // With room again, the next run reads the change from the run record and refuses
        // until it is accepted; then the same plant is remembered the usual way.
        try FileManager.default.removeItem(atPath: ws + "/fill")
        let next = try warden(["run", "--", "true"], cwd: ws, env: env)
        #expect(next.status == 2 && next.stderr.contains("could not record it"), "\(next.stderr)")
        #expect(try warden(["run", "--accept-policy-change", "--", "true"], cwd: ws, env: env).status == 0)
        try FileManager.default.removeItem(atPath: ws + "/sub")
        let again = try warden(["run", "--", "sh", "-c", plant.replacingOccurrences(of: "head -c 64000000 /dev/zero > fill 2>/dev/null; ", with: "")],
                               cwd: ws, env: env)
        #expect(again.status == 0 && again.stderr.contains("will refuse it"), "\(again.stderr)")
    }
}
