import Foundation
import Testing
import WardenBPF

/// WARDEN_BPF_DIST_DIR: objects from a directory, accepted only when they match their
/// manifest; a mismatch stops the run before anything starts.
@Suite(.serialized) struct BPFDistTests {
    static let prebuilt = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("prebuilt").path

    func copyOfPrebuilt() throws -> String {
        let dist = try makeDir() + "/dist"
        try FileManager.default.createDirectory(atPath: dist, withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: Self.prebuilt) where f.hasSuffix(".bpf.o") || f == "manifest.json" {
            try FileManager.default.copyItem(atPath: Self.prebuilt + "/" + f, toPath: dist + "/" + f)
        }
        return dist
    }

    /// warden embeds prebuilt/ at compile time: what it loads is what the manifest lists.
    @Test func embeddedObjectsAreThePrebuiltOnes() throws {
        for kind in BPFObject.Kind.allCases {
            let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(Self.prebuilt)/\(kind.rawValue).bpf.o")))
            #expect(kind.embedded.count > 1000 && kind.embedded == file, "\(kind)")
        }
    }

    @Test func objectsMustMatchTheirManifest() throws {
        let dist = try copyOfPrebuilt()
        let bytes = try BPFObject.verifiedObject(.trace, in: dist)
        #expect(bytes == [UInt8](try Data(contentsOf: URL(fileURLWithPath: dist + "/trace.bpf.o"))))
        #expect(BPFObject.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

        // One flipped byte.
        var tampered = bytes
        tampered[tampered.count / 2] ^= 0xff
        try Data(tampered).write(to: URL(fileURLWithPath: dist + "/trace.bpf.o"))
        #expect(throws: BPFError.self) { try BPFObject.verifiedObject(.trace, in: dist) }
        do {
            _ = try BPFObject.verifiedObject(.trace, in: dist)
        } catch {
            #expect(error.description.contains("trace.bpf.o has sha256") && error.description.contains("refusing"), "\(error)")
        }
        // Not listed, and no manifest at all.
        try Data("{\"objects\": {}}".utf8).write(to: URL(fileURLWithPath: dist + "/manifest.json"))
        #expect(throws: BPFError.self) { try BPFObject.verifiedObject(.net, in: dist) }
        try FileManager.default.removeItem(atPath: dist + "/manifest.json")
        #expect(throws: BPFError.self) { try BPFObject.verifiedObject(.net, in: dist) }
    }

    @Test(.enabled(if: Kernel.enabled)) func aRunUsesTheDirectoryOrRefuses() throws {
        try Kernel.requireRoot()
        let dist = try copyOfPrebuilt()
        let dir = try makeDir(["warden.toml": "net.default = \"allow\"\n"])
        let env = baseEnvironment([BPFObject.distDirVariable: dist])
        let ok = try warden(["run", "--", "sh", "-c", "cat /etc/hostname > /dev/null; touch ran"], cwd: dir, env: env)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(read(eventLogPath(dir)).contains("\"path_or_addr\":\"/etc/hostname\""))

        try FileManager.default.removeItem(atPath: dir + "/ran")
        var net = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dist + "/net.bpf.o")))
        net[100] ^= 1
        try Data(net).write(to: URL(fileURLWithPath: dist + "/net.bpf.o"))
        let refused = try warden(["run", "--", "touch", "ran"], cwd: dir, env: env)
        #expect(refused.status == 125)
        #expect(refused.stderr.contains("\(BPFObject.distDirVariable)=\(dist): net.bpf.o has sha256"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"), "nothing may run")
    }
}
