import CWardenABI
import Foundation
import Testing
@testable import WardenOutput

func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-out-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

func sampleEvent(_ i: Int = 0, verdict: WardenEvent.Verdict = .denied, perm: String = "allow.fs.read_extra=/home/u/.ssh") -> WardenEvent {
    WardenEvent(pid: 100 + UInt32(i), tgid: 100, timeNs: 1_000 + UInt64(i), unit: .buildScript, action: .open, verdict: verdict,
                containerId: 77, caps: 0, pathOrAddr: "/home/u/.ssh/id_rsa", neededPerm: perm)
}

@Suite struct AbiTests {
    /// The Swift decoder's offsets are those of the C header the BPF programs use.
    @Test func offsetsMatchTheCHeader() {
        #expect(MemoryLayout<warden_event>.size == WardenEvent.size)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.pid) == WardenEvent.Offset.pid)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.tgid) == WardenEvent.Offset.tgid)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.time_ns) == WardenEvent.Offset.timeNs)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.unit) == WardenEvent.Offset.unit)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.action) == WardenEvent.Offset.action)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.verdict) == WardenEvent.Offset.verdict)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.reserved) == WardenEvent.Offset.reserved)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.container_id) == WardenEvent.Offset.containerId)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.caps) == WardenEvent.Offset.caps)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.path_or_addr) == WardenEvent.Offset.pathOrAddr)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.needed_perm) == WardenEvent.Offset.neededPerm)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.result) == WardenEvent.Offset.result)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.access) == WardenEvent.Offset.access)
        #expect(Int(WARDEN_EVENT_V1_SIZE) == WardenEvent.v1Size && WardenEvent.Offset.result == WardenEvent.v1Size)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.origin) == WardenEvent.Offset.origin)
        #expect(Int(WARDEN_EVENT_V2_SIZE) == WardenEvent.v2Size && WardenEvent.Offset.origin == WardenEvent.v2Size)
        #expect(MemoryLayout<warden_event>.offset(of: \warden_event.repeat_key) == WardenEvent.Offset.repeatKey)
        #expect(Int(WARDEN_EVENT_V3_SIZE) == WardenEvent.v3Size && WardenEvent.Offset.repeatKey == WardenEvent.v3Size)
        #expect(Int(WARDEN_EVENT_VERSION) == 4)
        #expect(Int(WARDEN_PATH_MAX) == WardenEvent.pathCapacity && Int(WARDEN_PERM_MAX) == WardenEvent.permCapacity)
    }

    /// Version 2 adds result and access after version 1's fields; a version 1 record
    /// (360 bytes, as cargo-warden writes) still decodes, with both at zero.
    @Test func versionTwoFieldsAndVersionOneRecords() throws {
        var c = warden_event()
        c.action = UInt8(WARDEN_ACTION_OPEN.rawValue)
        c.result = -13
        c.access = UInt32(WARDEN_ACCESS_READ.rawValue | WARDEN_ACCESS_WRITE.rawValue)
        let e = try withUnsafeBytes(of: &c) { try WardenEvent(bytes: $0) }
        #expect(e.result == -13 && e.access == [.read, .write])
        let v1 = try withUnsafeBytes(of: &c) { try WardenEvent(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<WardenEvent.v1Size])) }
        #expect(v1.result == 0 && v1.access == [])
        let line = try JSONEncoder().encode(EventRecord(runId: "r", source: "tracepoint", mode: "observe", event: e))
        let back = try JSONDecoder().decode(EventRecord.self, from: line)
        #expect(back.event == e)
    }

    /// Version 4 adds the kernel's repeat key, read from the raw record only; a version 3
    /// record (376 bytes) decodes the same event, with no key.
    @Test func versionFourRepeatKeyAndVersionThreeRecords() throws {
        var c = warden_event()
        c.action = UInt8(WARDEN_ACTION_OPEN.rawValue)
        c.origin = 7
        c.repeat_key = 0x0123_4567_89ab_cdef
        let e = try withUnsafeBytes(of: &c) { try WardenEvent(bytes: $0) }
        #expect(withUnsafeBytes(of: &c) { WardenEvent.repeatKey($0) } == 0x0123_4567_89ab_cdef)
        let v3 = try withUnsafeBytes(of: &c) { try WardenEvent(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<WardenEvent.v3Size])) }
        #expect(v3 == e && v3.origin == 7)
        #expect(withUnsafeBytes(of: &c) { WardenEvent.repeatKey(UnsafeRawBufferPointer(rebasing: $0[0..<WardenEvent.v3Size])) } == 0)
    }

    /// Version 3 adds the unit's origin; a version 2 record (368 bytes) decodes with none,
    /// and the origin and package survive the JSON line.
    @Test func versionThreeOriginAndVersionTwoRecords() throws {
        var c = warden_event()
        c.action = UInt8(WARDEN_ACTION_EXEC.rawValue)
        c.result = -13
        c.origin = 31337
        let e = try withUnsafeBytes(of: &c) { try WardenEvent(bytes: $0) }
        #expect(e.origin == 31337 && e.result == -13)
        let v2 = try withUnsafeBytes(of: &c) { try WardenEvent(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<WardenEvent.v2Size])) }
        #expect(v2.origin == 0 && v2.result == -13)
        #expect(try e.rawBytes().withUnsafeBytes { try WardenEvent(bytes: $0) } == e)
        let line = try JSONEncoder().encode(EventRecord(runId: "r", source: "tracepoint", mode: "observe", event: e, package: "serde"))
        let back = try JSONDecoder().decode(EventRecord.self, from: line)
        #expect(back.event == e && back.package == "serde")
    }

    /// A record filled in through the C struct decodes to the same values.
    @Test func decodesARecordWrittenThroughC() throws {
        var c = warden_event()
        c.pid = 4242
        c.tgid = 4240
        c.time_ns = 123_456_789_012
        c.unit = UInt8(WARDEN_UNIT_LINKER.rawValue)
        c.action = UInt8(WARDEN_ACTION_CONNECT.rawValue)
        c.verdict = UInt8(WARDEN_VERDICT_DENIED.rawValue)
        c.container_id = 0xdead_beef
        c.caps = 1 << 21
        withUnsafeMutableBytes(of: &c.path_or_addr) { b in for (i, ch) in "127.0.0.1:9".utf8.enumerated() { b[i] = ch } }
        withUnsafeMutableBytes(of: &c.needed_perm) { b in for (i, ch) in "allow.net.hosts=127.0.0.1:9".utf8.enumerated() { b[i] = ch } }
        let e = try withUnsafeBytes(of: &c) { try WardenEvent(bytes: $0) }
        #expect(e.pid == 4242 && e.tgid == 4240 && e.timeNs == 123_456_789_012)
        #expect(e.unit == .linker && e.action == .connect && e.verdict == .denied)
        #expect(e.containerId == 0xdead_beef && e.caps == 1 << 21)
        #expect(e.pathOrAddr == "127.0.0.1:9" && e.neededPerm == "allow.net.hosts=127.0.0.1:9")
        #expect(e.rawBytes() == withUnsafeBytes(of: &c) { Array($0) })
    }

    @Test func rejectsShortAndUnknownRecords() {
        var raw = sampleEvent().rawBytes()
        #expect(throws: WardenEvent.DecodeError.short(100)) { try raw[0..<100].withUnsafeBytes { try WardenEvent(bytes: $0) } }
        raw[WardenEvent.Offset.action] = 10
        #expect(throws: WardenEvent.DecodeError.badEnum(field: "action", value: 10)) { try raw.withUnsafeBytes { try WardenEvent(bytes: $0) } }
    }

    @Test func fullLengthPathsAreTruncatedNotOverflowed() throws {
        var e = sampleEvent()
        e.pathOrAddr = String(repeating: "a", count: 400)
        let back = try e.rawBytes().withUnsafeBytes { try WardenEvent(bytes: $0) }
        #expect(back.pathOrAddr.count == 255)
        #expect(back.neededPerm == e.neededPerm)
    }
}

@Suite struct EventLogTests {
    @Test func appendsAndReadsBackRuns() throws {
        let path = tempPath("warden-events.jsonl")
        let log = try EventLog(path: path)
        let run = RunRecord(runId: "r1", startedAt: "t", command: ["make"], workspace: "/w", mode: "observe", buildSystem: "make",
                            policySources: ["built-in default"], policyFile: nil, cgroup: "/sys/fs/cgroup/x", uid: 0, layers: [], warnings: [])
        try log.append(run)
        try log.append([try log.encode(EventRecord(runId: "r1", source: "bpf", mode: "observe", event: sampleEvent(1))),
                        try log.encode(EventRecord(runId: "r1", source: "bpf", mode: "observe", event: sampleEvent(2, verdict: .allowed)))])
        try log.append(RunEndRecord(runId: "r1", exitCode: 0, childStatus: "exited with status 0", durationMs: 5, lostEvents: 0))
        let contents = try EventLogContents.read(path: path)
        #expect(contents.runs.count == 1)
        #expect(contents.runs[0].start == run)
        #expect(contents.runs[0].events.map(\.event) == [sampleEvent(1), sampleEvent(2, verdict: .allowed)])
        #expect(contents.runs[0].end?.exitCode == 0)
        #expect(!contents.tornTail && contents.invalidLines.isEmpty)
        let line = try #require(String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst().first)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(obj["verdict"] as? Int == 1 && obj["verdict_name"] as? String == "denied")
        #expect(obj["unit"] as? Int == 1 && obj["unit_name"] as? String == "build_script")
        #expect(obj["action_name"] as? String == "open" && obj["path_or_addr"] as? String == "/home/u/.ssh/id_rsa")
    }

    @Test func tornTailIsSkippedByReadersAndCutOnOpen() throws {
        let path = tempPath("warden-events.jsonl")
        let good = try EventLog(path: path).encode(EventRecord(runId: "r", source: "bpf", mode: "enforce", event: sampleEvent()))
        var data = good
        data.append(good.prefix(good.count / 2))
        try data.write(to: URL(fileURLWithPath: path))
        let before = try EventLogContents.read(path: path)
        #expect(before.tornTail)
        #expect(before.runs.first?.events.count == 1)
        #expect(before.invalidLines.isEmpty)
        _ = try EventLog(path: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == good)
    }

    @Test func damagedLinesAreCountedNotHidden() {
        let contents = EventLogContents.parse(Data("not json\n{\"type\":\"event\",\"run_id\":\"x\"}\n".utf8))
        #expect(contents.invalidLines == [1, 2])
    }
}

@Suite struct MetricsTests {
    @Test func countsAndAtomicReplace() throws {
        var m = MetricsSnapshot(runId: "r", mode: "enforce", updatedAt: "t")
        m.count(EventRecord(runId: "r", source: "bpf", mode: "enforce", event: sampleEvent()))
        m.count(EventRecord(runId: "r", source: "bpf", mode: "enforce", event: sampleEvent(verdict: .allowed)))
        m.count(EventRecord(runId: "r", source: "bpf", mode: "observe", event: sampleEvent()))
        #expect(m.allowedTotal == 1 && m.violationsTotal == 2 && m.blockedTotal == 1)
        #expect(m.perUnit["build_script"] == MetricsSnapshot.UnitCounts(allowed: 1, violations: 2, blocked: 1))
        let path = tempPath("warden-metrics.json")
        try m.write(to: path)
        m.allowedTotal = 99
        try m.write(to: path)
        let back = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(back == m)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        #expect(leftovers == ["warden-metrics.json"])
    }
}

/// The action numbers are the C ABI's: one test ties every Swift case to its constant.
@Suite struct ActionABITests {
    @Test func everyActionMatchesTheHeader() {
        let c: [WardenEvent.Action: UInt32] = [
            .open: WARDEN_ACTION_OPEN.rawValue, .rename: WARDEN_ACTION_RENAME.rawValue, .unlink: WARDEN_ACTION_UNLINK.rawValue,
            .exec: WARDEN_ACTION_EXEC.rawValue, .connect: WARDEN_ACTION_CONNECT.rawValue, .create: WARDEN_ACTION_CREATE.rawValue,
            .attr: WARDEN_ACTION_ATTR.rawValue, .link: WARDEN_ACTION_LINK.rawValue, .listen: WARDEN_ACTION_LISTEN.rawValue,
            .socket: WARDEN_ACTION_SOCKET.rawValue,
        ]
        #expect(c.count == WardenEvent.Action.allCases.count)
        for (swift, header) in c { #expect(UInt32(swift.rawValue) == header, "\(swift)") }
    }
}

/// Naming the package of a build script or macro from its origin's exec.
@Suite struct PackageNameTests {
    @Test func namesFromProgramPaths() {
        #expect(PackageNames.name(program: "/w/target/debug/build/serde_derive-1a2b3c4d5e6f7a8b/build-script-build") == "serde_derive")
        #expect(PackageNames.name(program: "/w/target/x86_64-unknown-linux-gnu/release/build/ring-0123abcd/build-script-main") == "ring")
        #expect(PackageNames.name(program: "/tmp/TemporaryDirectory.x/swift-argument-parser-manifest") == "swift-argument-parser")
        #expect(PackageNames.name(program: "/w/.build/debug/StringifyMacros-tool") == "StringifyMacros")
        #expect(PackageNames.name(program: "/w/.build/plugins/Lint/cache/Lint") == "Lint")
        // Not cargo's layout (no hash, or not under build/): the program's own name.
        #expect(PackageNames.name(program: "/w/build/mycrate/build-script-build") == "build-script-build")
        #expect(PackageNames.name(program: "/w/other/serde-1a2b3c4d5e6f7a8b/build-script-build") == "build-script-build")
        #expect(PackageNames.name(program: "?/deep/path") == nil)
    }

    func exec(_ tgid: UInt32, origin: UInt32, _ path: String, result: Int32 = 0) -> WardenEvent {
        WardenEvent(pid: tgid, tgid: tgid, timeNs: 0, unit: .buildScript, action: .exec, verdict: .allowed, containerId: 1, caps: 0,
                    pathOrAddr: path, neededPerm: "", result: result, origin: origin)
    }

    /// The first successful exec by the origin names it; a failed exec, a later exec by
    /// the same process and the events of its children do not rename it.
    @Test func theExecThatStartedTheUnitNamesIt() {
        var names = PackageNames()
        #expect(names.package(of: exec(10, origin: 10, "/usr/bin/perl", result: -13)) == nil)
        #expect(names.package(of: exec(10, origin: 10, "/w/target/debug/build/openssl-sys-00ff00ff00ff00ff/build-script-build")) == "openssl-sys")
        #expect(names.package(of: exec(10, origin: 10, "/usr/bin/dash")) == "openssl-sys")
        #expect(names.package(of: exec(11, origin: 10, "/usr/bin/git")) == "openssl-sys")
        var connect = exec(12, origin: 10, "127.0.0.1:443")
        connect.action = .connect
        #expect(names.package(of: connect) == "openssl-sys")
        #expect(names.package(of: exec(13, origin: 0, "/usr/bin/rustc")) == nil)
        #expect(names.package(of: exec(14, origin: 99, "/usr/bin/cc")) == nil, "its origin's exec was never seen")
    }
}
