import Foundation
import Testing
@testable import WardenPolicy

func parse(_ text: String, home: String? = "/home/dev") throws(PolicyError) -> PolicyFragment {
    try PolicyParser(source: "warden.toml", home: home).parse(text)
}

func parseError(_ text: String, home: String? = "/home/dev") -> PolicyError? {
    do {
        _ = try parse(text, home: home)
        return nil
    } catch {
        return error
    }
}

@Suite struct ParserTests {
    static let full = """
        mode = "observe"
        fs.default = "unrestricted"
        net.default = "allow"
        exec.default = "allowlist"

        [allow.exec]
        allowed = ["rustc", "/usr/bin/cc"]

        [allow.net]
        hosts = [
          "127.0.0.1:8080",
          "[::1]:443",
          "localhost:5432",
        ]

        [allow.fs]
        write_extra = ["/tmp/warden-scratch"]
        read_extra = ["/usr/include", "~/.cache/x/"]

        [allow.env]
        read = ["HOME", "CARGO_*"]

        [syscall]
        deny = ["ptrace", "bpf"]
        """

    @Test func everyKeyIsParsedWithItsLine() throws {
        let f = try parse(Self.full)
        #expect(f.mode == Located(.observe, Provenance(source: "warden.toml", line: 1)))
        #expect(f.fsDefault?.value == .unrestricted)
        #expect(f.netDefault?.value == .allow)
        #expect(f.execDefault?.value == .allowlist)
        #expect(f.execDefault?.origin.line == 4)
        #expect(f.execAllowed.map(\.value) == ["rustc", "/usr/bin/cc"])
        #expect(f.netHosts.map(\.value.description) == ["127.0.0.1:8080", "[::1]:443", "localhost:5432"])
        #expect(f.netHosts.map(\.origin.line) == [11, 12, 13])
        #expect(f.fsWriteExtra.map(\.value) == ["/tmp/warden-scratch"])
        #expect(f.fsReadExtra.map(\.value) == ["/usr/include", "/home/dev/.cache/x"])
        #expect(f.envRead.map(\.value) == ["HOME", "CARGO_*"])
        #expect(f.syscallDeny.map(\.value) == ["ptrace", "bpf"])
        #expect(f.syscallDeny.first?.origin.line == 24)
    }

    @Test func tableAndDottedFormsAgree() throws {
        let a = try parse("[fs]\ndefault = \"strict\"\n[allow]\nexec.allowed = [\"make\"]\n")
        let b = try parse("fs.default = \"strict\"\nallow.exec.allowed = [\"make\"]\n")
        #expect(a.fsDefault?.value == b.fsDefault?.value)
        #expect(a.execAllowed.map(\.value) == b.execAllowed.map(\.value))
        let c = try parse("allow = { net = { hosts = [\"10.0.0.1:22\"] } }\n")
        #expect(c.netHosts.first?.value.description == "10.0.0.1:22")
    }

    @Test func unknownKeyNamesLineAndSuggests() throws {
        let e = try #require(parseError("mode = \"observe\"\n\n[allow.fs]\nread_extr = [\"/x\"]\n"))
        #expect(e.file == "warden.toml")
        #expect(e.line == 4)
        #expect(e.key == "allow.fs.read_extr")
        #expect(e.message.contains("did you mean 'allow.fs.read_extra'"))
        #expect(e.description.hasPrefix("warden.toml:4: allow.fs.read_extr: unknown key"))

        let top = try #require(parseError("\nmdoe = \"observe\"\n"))
        #expect(top.line == 2)
        #expect(top.message.contains("'mode'"))

        let far = try #require(parseError("completely_else = 1\n"))
        #expect(far.message.contains("known keys"))
    }

    @Test func wrongTypesAreRejected() throws {
        let e1 = try #require(parseError("mode = 1\n"))
        #expect(e1.key == "mode" && e1.line == 1 && e1.message.contains("expected a string"))
        let e2 = try #require(parseError("[allow.exec]\nallowed = \"make\"\n"))
        #expect(e2.key == "allow.exec.allowed" && e2.line == 2 && e2.message.contains("expected an array"))
        let e3 = try #require(parseError("[allow.exec]\nallowed = [\"make\", 3]\n"))
        #expect(e3.key == "allow.exec.allowed[1]" && e3.message.contains("found an integer"))
        let e4 = try #require(parseError("fs = \"strict\"\n"))
        #expect(e4.key == "fs" && e4.message.contains("expected a table"))
        let e5 = try #require(parseError("[mode]\nx = 1\n"))
        #expect(e5.key == "mode")
    }

    @Test func badEnumValues() throws {
        for (key, text) in [("mode", "mode = \"audit\""), ("fs.default", "fs.default = \"loose\""),
                            ("net.default", "net.default = \"block\""), ("exec.default", "exec.default = \"none\"")] {
            let e = try #require(parseError(text + "\n"), "\(key)")
            #expect(e.key == key)
            #expect(e.line == 1)
            #expect(e.message.contains(" or "))
        }
    }

    @Test func malformedHostPortPointsAtTheElement() throws {
        let text = "[allow.net]\nhosts = [\n  \"127.0.0.1:80\",\n  \"example.com\",\n]\n"
        let e = try #require(parseError(text))
        #expect(e.key == "allow.net.hosts[1]")
        #expect(e.line == 4)
        #expect(e.message.contains("missing ':port'"))
    }

    @Test func relativePathsAreRejected() throws {
        let e = try #require(parseError("[allow.fs]\nwrite_extra = [\"out/dir\"]\n"))
        #expect(e.key == "allow.fs.write_extra[0]" && e.line == 2 && e.message.contains("relative path"))
        let dots = try #require(parseError("[allow.fs]\nread_extra = [\"/usr/../etc\"]\n"))
        #expect(dots.message.contains("normalized"))
        let noHome = try #require(parseError("[allow.fs]\nread_extra = [\"~/x\"]\n", home: nil))
        #expect(noHome.message.contains("cannot be expanded"))
        let exec = try #require(parseError("[allow.exec]\nallowed = [\"bin/tool\"]\n"))
        #expect(exec.message.contains("relative path"))
    }

    @Test func badNamesInLists() throws {
        let env = try #require(parseError("[allow.env]\nread = [\"MY-VAR\"]\n"))
        #expect(env.key == "allow.env.read[0]")
        let sc = try #require(parseError("[syscall]\ndeny = [\"Ptrace!\"]\n"))
        #expect(sc.key == "syscall.deny[0]")
    }

    @Test func invalidTOMLReportsTheLine() throws {
        let e = try #require(parseError("mode = \"observe\"\nfs.default = \n"))
        #expect(e.line == 2)
        #expect(e.message.hasPrefix("invalid TOML"))
    }
}

@Suite struct HostPortTests {
    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1:8080"), ("[::1]:443", "[::1]:443"), ("[2001:DB8::1]:53", "[2001:db8::1]:53"),
        ("[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:80"), ("Localhost:5432", "localhost:5432"),
        ("crates.io:443", "crates.io:443"), ("[1:2:3:4:5:6:7:8]:1", "[1:2:3:4:5:6:7:8]:1"), ("1.2.3.4:65535", "1.2.3.4:65535"),
    ])
    func valid(_ input: String, _ shown: String) throws {
        let hp = try HostPort.parse(input).get()
        #expect(hp.description == shown)
    }

    @Test(arguments: [
        "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8o", "::1:443",
        "[::1]", "[::1]443", "[::1:443", "[:::1]:443", "[1::2::3]:80", "[fffff::1]:80", "256.1.1.1:80", "1.2.3:80",
        "01.2.3.4:80", ":80", "-bad.example:80", "exa mple.com:80", "[1:2:3:4:5:6:7:8:9]:1", "bad_host:80",
    ])
    func invalid(_ input: String) {
        #expect(throws: HostPortError.self) { try HostPort.parse(input).get() }
    }
}

@Suite struct KeyLocatorTests {
    @Test func linesOfTablesDottedKeysAndElements() {
        let text = """
            # comment with [brackets] and key = "value"
            mode = "observe"
            s = '''
            fake = 1
            [fake]
            '''
            [allow.fs]
            read_extra = [ # comment
              "/a", '/b',
              "/c" ]
            "quoted.key" = 1
            """
        let loc = KeyLocator(source: text)
        #expect(loc.line(of: "mode") == 2)
        #expect(loc.line(of: "fake") == nil)
        #expect(loc.line(of: "allow.fs") == 7)
        #expect(loc.line(of: "allow.fs.read_extra") == 8)
        #expect(loc.line(of: "allow.fs.read_extra", element: 1) == 9)
        #expect(loc.line(of: "allow.fs.read_extra", element: 2) == 10)
        #expect(loc.line(of: "allow.fs.quoted.key") == 11)
        #expect(loc.line(of: "allow.fs.unknown") == 7)
    }
}

@Suite struct TomlppGuardTests {
    /// toml++ 3.4 hits an assertion (undefined behaviour in release builds) on these;
    /// found by the fuzz test. They must come back as located errors.
    @Test(arguments: ["[ = 1", "[[ = #", "[[ =", "[=]", "[[=]]", "[ .a]", "[ #]", "[[#]]", "mode = \"observe\"\n\n[ =x]",
                        "a = [}\"make\"]", "a = [1, }]", "a = [ #c\n}]", "a = [[}]]"])
    func malformedHeadersAreLocatedErrors(_ text: String) throws {
        let e = try #require(parseError(text))
        #expect(e.line == text.split(separator: "\n", omittingEmptySubsequences: false).count)
        #expect(e.message.hasPrefix("invalid TOML"))
    }
}
