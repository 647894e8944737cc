import Foundation
import Testing
import WardenOutput
import WardenRun

/// A hard link gives a file a second name: one in the workspace would make a file from
/// outside writable through it. Landlock refuses such a link with EXDEV (so does tier 1's
/// path_link), as if it crossed file systems, so git and cp copy instead; the refusal is
/// recorded naming the file, as an expected refusal (a fallback follows, the build is
/// not failed for it). A link the rules allow that crosses file systems is no refusal.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct LinkTests {
    @Test func aHardLinkToAFileOutsideIsRefusedAndRecorded() throws {
        try Kernel.requireRoot()
        // Workspace and victim on one file system, so the control's link can succeed.
        let ws = try scratchDir("ws")
        try "net.default = \"allow\"\n".write(toFile: ws + "/warden.toml", atomically: true, encoding: .utf8)
        let outside = try scratchDir("victim")
        let victim = outside + "/victim"
        try "ORIGINAL\n".write(toFile: victim, atomically: true, encoding: .utf8)
        let attack = "ln \(victim) link 2> /dev/null; echo \"ln $?\" > out.txt; echo PWNED >> link 2> /dev/null; exit 0"
        let r = try warden(["run", "--", "sh", "-c", attack], cwd: ws)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(ws + "/out.txt") == "ln 1\n" && read(victim) == "ORIGINAL\n" && read(ws + "/link") == "PWNED\n")
        let run = try #require(try EventLogContents.read(path: eventLogPath(ws)).runs.last)
        let links = run.events.filter { $0.event.action == .link }
        #expect(links.count == 1 && links.first?.event.verdict == .denied && links.first?.event.pathOrAddr == victim
                    && links.first?.event.result == -EXDEV && links.first?.isExpectedRefusal == true
                    && links.first?.event.neededPerm == "allow.fs.write_extra=\(victim)", "\(links)")
        // The control: without warden the same link succeeds and the write lands outside.
        let control = try scratchDir("control")
        let c = try runProcess("/bin/sh", ["-c", "ln \(victim) link && echo CHANGED >> link"], cwd: control)
        #expect(c.status == 0 && read(victim) == "ORIGINAL\nCHANGED\n", "\(c.out)")
    }

    /// In observe mode nothing refuses the link, and a link left in the workspace to a file
    /// outside would give every later run that file: the link is recorded naming the file,
    /// as a would-be denial (never an expected refusal, since nothing fell back). The
    /// control: the link exists afterwards, so the call really succeeded.
    @Test func aLinkMadeInObserveModeIsAWouldBeDenial() throws {
        try Kernel.requireRoot()
        let ws = try scratchDir("ws")
        try "net.default = \"allow\"\n".write(toFile: ws + "/warden.toml", atomically: true, encoding: .utf8)
        let victim = try scratchDir("victim") + "/victim"
        try "ORIGINAL\n".write(toFile: victim, atomically: true, encoding: .utf8)
        let r = try warden(["run", "--mode", "observe", "--", "ln", victim, "link"], cwd: ws)
        #expect(r.status == 0 && FileManager.default.fileExists(atPath: ws + "/link"), "\(r.stderr)")
        let links = try #require(try EventLogContents.read(path: eventLogPath(ws)).runs.last).events.filter { $0.event.action == .link }
        #expect(links.count == 1 && links.first?.event.pathOrAddr == victim && links.first?.event.result == 0
                    && links.first?.isViolation == true && links.first?.isExpectedRefusal == false
                    && links.first?.event.neededPerm == "allow.fs.write_extra=\(victim)", "\(links)")
    }

    /// The file named through a symlink the link follows (linkat AT_SYMLINK_FOLLOW) or
    /// through /proc/self/fd: judged, and named, by what it resolves to.
    @Test func aLinkThroughASymlinkOrDescriptorNamesTheFile() throws {
        try Kernel.requireRoot()
        let ws = try scratchDir("ws")
        try "net.default = \"allow\"\n".write(toFile: ws + "/warden.toml", atomically: true, encoding: .utf8)
        let victimDir = try scratchDir("victim"), victim = victimDir + "/victim"
        try "ORIGINAL\n".write(toFile: victim, atomically: true, encoding: .utf8)
        // Readable (for the descriptor), not writable.
        try "net.default = \"allow\"\n[allow.fs]\nread_extra = [\"\(victimDir)\"]\n".write(toFile: ws + "/warden.toml", atomically: true, encoding: .utf8)
        let script = "exec 3< \(victim); ln -s \(victim) sym; ln -L sym l1 2> /dev/null; echo $?; ln -L /proc/self/fd/3 l2 2> /dev/null; echo $?"
        let r = try warden(["run", "--", "sh", "-c", script], cwd: ws)
        #expect(r.stdout == "1\n1\n" && read(victim) == "ORIGINAL\n", "\(r.stdout) \(r.stderr)")
        #expect(r.status == 77, "a name that is not the file proves a denial, never an expected refusal: \(r.stderr)")
        let links = try #require(try EventLogContents.read(path: eventLogPath(ws)).runs.last).events.filter { $0.event.action == .link }
        // The descriptor's owner (ln) may be gone when warden reads the event: then the
        // /proc name is what it records, still a denial.
        #expect(links.count == 2 && links.allSatisfy(\.isViolation) && links[0].event.pathOrAddr == victim
                    && (links[1].event.pathOrAddr == victim || links[1].event.pathOrAddr.hasPrefix("/proc/")), "\(links.map(\.event))")
    }

    /// A link between two write paths on different file systems fails with EXDEV whatever
    /// the sandbox: a build that falls back to copying is not a denial.
    @Test func aCrossDeviceLinkTheRulesAllowIsNotADenial() throws {
        try Kernel.requireRoot()
        let ws = try scratchDir("ws")
        try "net.default = \"allow\"\n".write(toFile: ws + "/warden.toml", atomically: true, encoding: .utf8)
        let tmp = try scratchDir("tmpfs")
        #expect(mount("tmpfs", tmp, "tmpfs", 0, "size=1m") == 0)
        defer { umount2(tmp, Int32(MNT_DETACH)) }
        let policy = "net.default = \"allow\"\n[allow.fs]\nwrite_extra = [\"\(tmp)\"]\n"
        try policy.write(toFile: ws + "/warden.toml", atomically: true, encoding: .utf8)
        let script = "echo x > \(tmp)/f && ln \(tmp)/f here 2> /dev/null; echo \"ln $?\" > out.txt; cp \(tmp)/f here"
        let r = try warden(["run", "--", "sh", "-c", script], cwd: ws)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(ws + "/out.txt") == "ln 1\n" && read(ws + "/here") == "x\n")
        let run = try #require(try EventLogContents.read(path: eventLogPath(ws)).runs.last)
        #expect(!run.events.contains { $0.isViolation }, "\(run.events.filter(\.isViolation))")
        #expect(run.events.contains { $0.event.action == .link && $0.event.result == -EXDEV && $0.event.verdict == .allowed })
    }
}
