import CWardenABI
import Testing

/// The unit classifier in bpf/include/warden/classify.h, the same code trace.bpf.c runs
/// at every exec in the kernel.
@Suite struct ClassifyTests {
    func hash(_ name: String) -> warden_name_hash {
        var buf = [CChar](repeating: 0, count: Int(WARDEN_NAME_MAX))
        for (i, c) in name.utf8.prefix(Int(WARDEN_NAME_MAX) - 1).enumerated() { buf[i] = CChar(bitPattern: c) }
        return warden_hash_name(buf)
    }

    func fnv(_ s: String) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in s.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    struct Step { var unit: warden_unit; var tool: warden_tool }

    /// Runs a chain of execs, each by a child of the previous program (fork inherits);
    /// process i has tgid 100 + i.
    func states(_ names: [String]) -> [warden_unit_state] {
        var state = warden_unit_state()
        return names.enumerated().map { i, name in
            state = warden_classify(hash(name), state, UInt32(100 + i))
            return state
        }
    }

    func chain(_ names: [String]) -> [Step] {
        states(names).map { Step(unit: warden_unit(UInt32($0.unit)), tool: warden_tool(UInt32($0.tool))) }
    }

    /// The origin is the process whose exec started the build script or macro; what it
    /// runs keeps it (compilers included), until another build script or macro starts.
    @Test func originIsTheExecThatStartedTheUnit() {
        #expect(states(["cargo", "rustc", "cc"]).map(\.origin) == [0, 0, 0])
        #expect(states(["cargo", "build-script-build", "sh", "git", "git-remote-https"]).map(\.origin) == [0, 101, 101, 101, 101])
        #expect(states(["cargo", "build-script-build", "cc", "cc1"]).map(\.origin) == [0, 101, 101, 101])
        // A build script that runs cargo: that cargo's build scripts are units of their own.
        #expect(states(["cargo", "build-script-build", "cargo", "build-script-build"]).map(\.origin) == [0, 101, 101, 103])
        // A build script exec'ing another build script's name stays the first one.
        #expect(states(["cargo", "build-script-build", "build-script-build"]).map(\.origin) == [0, 101, 101])
        #expect(states(["swift-build", "Foo-manifest"]).map(\.origin) == [0, 101])
        #expect(states(["swift-build", "swift-frontend", "MyMacros-tool", "git"]).map(\.origin) == [0, 0, 102, 102])
    }

    func units(_ names: [String]) -> [warden_unit] { chain(names).map(\.unit) }

    /// Every constant in the header is the FNV-1a hash of the name its comment gives.
    @Test func hashConstantsMatchTheirNames() {
        let table: [(String, UInt32)] = [
            ("build-script-build", WARDEN_H_BUILD_SCRIPT), ("cargo", WARDEN_H_CARGO), ("swift-build", WARDEN_H_SWIFT_BUILD),
            ("swift-package", WARDEN_H_SWIFT_PACKAGE), ("swift-test", WARDEN_H_SWIFT_TEST), ("swift-plugin-server", WARDEN_H_SWIFT_PLUGIN),
            ("rustc", WARDEN_H_RUSTC), ("rustdoc", WARDEN_H_RUSTDOC), ("swiftc", WARDEN_H_SWIFTC), ("swift-driver", WARDEN_H_SWIFT_DRIVER),
            ("swift-frontend", WARDEN_H_SWIFT_FRONTEND), ("ld", WARDEN_H_LD), ("ld.bfd", WARDEN_H_LD_BFD), ("ld.gold", WARDEN_H_LD_GOLD),
            ("ld.lld", WARDEN_H_LD_LLD), ("lld", WARDEN_H_LLD), ("mold", WARDEN_H_MOLD), ("collect2", WARDEN_H_COLLECT2),
            ("cc", WARDEN_H_CC), ("c++", WARDEN_H_CXX), ("gcc", WARDEN_H_GCC), ("g++", WARDEN_H_GXX), ("clang", WARDEN_H_CLANG),
            ("clang++", WARDEN_H_CLANGXX), ("cc1", WARDEN_H_CC1), ("cc1plus", WARDEN_H_CC1PLUS), ("cc1obj", WARDEN_H_CC1OBJ),
            ("as", WARDEN_H_AS), ("git", WARDEN_H_GIT),
        ]
        for (name, constant) in table {
            #expect(fnv(name) == constant, "\(name)")
            #expect(hash(name).whole == constant, "\(name)")
        }
        #expect(Set(table.map(\.1)).count == table.count, "two names share a hash")
    }

    @Test func versionsAndTripletsReduceToTheTool() {
        #expect(hash("gcc-12").whole == WARDEN_H_GCC)
        #expect(hash("clang-16").whole == WARDEN_H_CLANG)
        #expect(hash("x86_64-linux-gnu-gcc-12").suffix == WARDEN_H_GCC)
        #expect(hash("x86_64-linux-gnu-ld.bfd").suffix == WARDEN_H_LD_BFD)
        #expect(hash("build-script-build").whole == WARDEN_H_BUILD_SCRIPT)
        #expect(hash("python3.11").whole == fnv("python3.11"))
        #expect(hash("foo-1a").whole == fnv("foo-1a"))
        #expect(hash("gcc-").whole == fnv("gcc-"))
    }

    @Test func cargoBuild() {
        #expect(units(["cargo", "build-script-build"]) == [WARDEN_UNIT_OTHER, WARDEN_UNIT_BUILD_SCRIPT])
        // What a build script runs stays the build script, however it is named.
        #expect(units(["cargo", "build-script-build", "sh", "curl"]).last == WARDEN_UNIT_BUILD_SCRIPT)
        // A build script compiling C code through the cc crate: the compiler is the compiler.
        #expect(units(["cargo", "build-script-build", "cc", "cc1"]) == [WARDEN_UNIT_OTHER, WARDEN_UNIT_BUILD_SCRIPT, WARDEN_UNIT_COMPILER, WARDEN_UNIT_COMPILER])
        // rustc links through cc, which runs collect2 and ld.
        #expect(units(["cargo", "rustc", "cc", "collect2", "ld"]) == [WARDEN_UNIT_OTHER, WARDEN_UNIT_COMPILER, WARDEN_UNIT_LINKER, WARDEN_UNIT_LINKER, WARDEN_UNIT_LINKER])
        #expect(units(["cargo", "rustc", "x86_64-linux-gnu-gcc-12", "as"]).suffix(2) == [WARDEN_UNIT_LINKER, WARDEN_UNIT_LINKER])
        // Anything else cargo runs directly is a build script (the file may be renamed).
        #expect(units(["cargo", "my-build-helper"]).last == WARDEN_UNIT_BUILD_SCRIPT)
    }

    @Test func swiftBuild() {
        #expect(units(["swift-build", "swiftc", "swift-frontend"]) == [WARDEN_UNIT_OTHER, WARDEN_UNIT_COMPILER, WARDEN_UNIT_COMPILER])
        // Manifest and plugin executables SwiftPM runs are build scripts.
        #expect(units(["swift-build", "Foo-manifest"]).last == WARDEN_UNIT_BUILD_SCRIPT)
        #expect(units(["swift-build", "git"]).last == WARDEN_UNIT_OTHER)
        // git (and its remote helpers) started by a build script or a macro stay theirs.
        #expect(units(["cargo", "build-script-build", "git", "git-remote-https"]).suffix(2) == [WARDEN_UNIT_BUILD_SCRIPT, WARDEN_UNIT_BUILD_SCRIPT])
        #expect(units(["swift-build", "swift-frontend", "MyMacros-tool", "git"]).last == WARDEN_UNIT_PROC_MACRO)
        // Macro plugins the frontend runs are the proc-macro unit.
        #expect(units(["swift-build", "swift-frontend", "MyMacros-tool"]).last == WARDEN_UNIT_PROC_MACRO)
        #expect(units(["swift-build", "swift-frontend", "swift-plugin-server"]).last == WARDEN_UNIT_PROC_MACRO)
        // C targets: SwiftPM runs clang directly (compiler); the driver links through clang.
        #expect(units(["swift-build", "clang"]).last == WARDEN_UNIT_COMPILER)
        #expect(units(["swift-build", "swiftc", "clang", "ld.gold"]).suffix(2) == [WARDEN_UNIT_LINKER, WARDEN_UNIT_LINKER])
    }

    @Test func plainMake() {
        #expect(units(["make", "sh", "cc", "cc1", "as", "collect2", "ld"]) == [
            WARDEN_UNIT_OTHER, WARDEN_UNIT_OTHER, WARDEN_UNIT_COMPILER, WARDEN_UNIT_COMPILER, WARDEN_UNIT_COMPILER,
            WARDEN_UNIT_LINKER, WARDEN_UNIT_LINKER,
        ])
    }

    /// Random names never crash, and always classify to a defined unit.
    @Test func fuzzNames() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefgl-_.0123456789+/".utf8)
        for _ in 0..<20_000 {
            let n = Int.random(in: 0...80, using: &rng)
            let name = String(decoding: (0..<n).map { _ in alphabet.randomElement(using: &rng)! }, as: UTF8.self)
            let s = warden_classify(hash(name), warden_unit_state(unit: UInt8.random(in: 0...4), tool: UInt8.random(in: 0...5), pad: (0, 0), origin: 7), 9)
            #expect(s.unit <= 4 && s.tool <= 5 && (s.origin == 7 || s.origin == 9))
        }
    }
}
