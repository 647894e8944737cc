import WardenPolicy

/// One policy entry: a list key of the schema and one value for it.
public struct PolicyRule: Sendable, Hashable, Codable, CustomStringConvertible {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    public var description: String { "\(key) = [\(tomlQuoted(value))]" }

    /// The list keys a rule can be learned for.
    public static let learnableKeys = [PolicyKey.fsReadExtra, .fsWriteExtra, .execAllowed, .netHosts].map(\.rawValue)
}

extension WardenEvent {
    /// The rule that would allow this event, read from `needed_perm` (the decider's or the
    /// kernel's answer): the one place `report`, SARIF, `init --from-last-run` and `diff`
    /// take it from. nil when no policy line explains the event (refused by the kernel
    /// through a name the policy allows) or it carries no line.
    public var allowingRule: PolicyRule? {
        PolicyKey.parseNeeded(neededPerm).map { PolicyRule(key: $0.key.rawValue, value: $0.value) }
    }
}

/// The narrowest rules that would have let a run do what it did, learned from its
/// denials (enforce) or would-be denials (observe), and what was deliberately left out.
/// Plain Swift over the event log: no kernel, no file system.
public struct LearnedPolicy: Sendable, Equatable, Codable {
    public struct Rule: Sendable, Equatable, Codable {
        public var rule: PolicyRule
        /// The units (build_script, compiler, …) whose operations needed it.
        public var units: [String]
        public var count: Int
        /// Up to three of the paths or addresses it covers.
        public var examples: [String]

        /// The comment written above the rule in warden.toml.
        public var comment: String {
            let what = examples.map { Report.printable($0) }.joined(separator: ", ")
            return "learned: \(units.joined(separator: ", ")) (\(count)×): \(what)"
        }
    }

    /// An operation the run needed that no rule is learned for, and why.
    public struct LeftOut: Sendable, Equatable, Codable {
        public var action: String
        public var target: String
        public var why: String
    }

    public var rules: [Rule] = []
    public var leftOut: [LeftOut] = []
    /// Operations the policy did not allow, secrets and `.git` included.
    public var violations = 0

    public init() {}

    /// Policy files and manifests (PolicyGuard.names): never learned as writable.
    static let policyFileNames: Set<String> = [PolicyLoader.fileName, PolicyLoader.workspaceFileName, "Package.swift", "Cargo.toml"]

    /// How many files in one directory make a rule on the directory instead of each file.
    public static let collapseThreshold = 3

    /// Why a rule must never be learned for `rule` on `target`, or nil when it may be.
    /// Secrets (SystemBaseline.secrets) and anything in a `.git` directory (hooks and
    /// configuration there run outside the sandbox, on the user's next git command).
    public static func refusal(_ rule: PolicyRule, target: String) -> String? {
        let pathKeys = ["allow.fs.read_extra", "allow.fs.write_extra", "allow.exec.allowed"]
        guard pathKeys.contains(rule.key) else { return nil }
        if SystemBaseline.looksLikeSecret(rule.value) || SystemBaseline.looksLikeSecret(target) {
            return "a secret (credentials, keys): a build that reaches for it is what warden is there to stop"
        }
        if hasGitComponent(rule.value) || hasGitComponent(target) {
            return "inside .git: hooks and configuration there run outside the sandbox, with the user's rights"
        }
        return nil
    }

    /// A secret `path` would expose as a rule (a directory holding `/etc/shadow`,
    /// `~/.config/gh`, …), or nil.
    public static func exposedSecret(_ path: String, home: String?) -> String? {
        SystemBaseline.secrets(home: home ?? "/nonexistent-home").first { pathIsWithin($0, path) }
    }

    static func hasGitComponent(_ path: String) -> Bool {
        path.split(separator: "/").contains(".git")
    }

    /// Whether `dir` is too wide to grant: `/`, the home directory or anything above it,
    /// or anything above the workspace's parent directory.
    public static func tooWide(_ dir: String, workspace: String, home: String?) -> Bool {
        if dir == "/" { return true }
        if let home, pathIsWithin(home, dir) { return true }
        let parent = FileDecider.normalize(workspace + "/..")
        return pathIsWithin(parent, dir) && dir != parent
    }

    /// Learns from `events` (one run's). `workspace` bounds how far paths are widened;
    /// `home` is the build user's home; `covered` says whether the policy being merged
    /// into (or compared with) already allows a rule, so it is not added again.
    public static func learn(from events: [EventRecord], workspace: String, home: String?,
                             covered: (PolicyRule) -> Bool = { _ in false }) -> LearnedPolicy {
        var out = LearnedPolicy()
        var needs: [Need] = []
        var leftOutSeen = Set<String>()
        for r in events where r.isViolation {
            out.violations += 1
            let e = r.event
            switch narrowestRule(for: e, workspace: workspace, home: home) {
            case .rule(let rule):
                needs.append(Need(rule: rule, target: e.pathOrAddr, unit: e.unit.name))
            case .leftOut(let why):
                if leftOutSeen.insert(e.action.name + "\u{0}" + e.pathOrAddr).inserted {
                    out.leftOut.append(LeftOut(action: e.action.name, target: e.pathOrAddr, why: why))
                }
            }
        }
        let (rules, order) = group(needs, collapsing: collapsedDirectories(needs, workspace: workspace, home: home))
        out.rules = outermost(rules, order: order, covered: covered)
        return out
    }

    struct Need { var rule: PolicyRule; var target: String; var unit: String }
    enum Outcome { case rule(PolicyRule), leftOut(String) }

    /// The narrowest rule that would have allowed one violation, or why none is learned.
    static func narrowestRule(for e: WardenEvent, workspace: String, home: String?) -> Outcome {
        guard var rule = e.allowingRule else {
            return .leftOut("refused by the kernel through a name the policy allows: no policy line explains it")
        }
        guard PolicyRule.learnableKeys.contains(rule.key) else {
            return .leftOut("\(rule.key) is not learned; add it by hand if the build needs it")
        }
        if let why = refusal(rule, target: e.pathOrAddr) { return .leftOut(why) }
        let existingFile = e.action == .open && e.pathOrAddr.hasPrefix("/")
        if rule.key == "allow.fs.write_extra", pathIsWithin(workspace, rule.value) {
            // The workspace stays read-only but for the output directory (which warden
            // creates before an enforced run): a rule on it would let the build rewrite
            // its own sources and policy. An existing file in it may be learned alone.
            let name = e.pathOrAddr.split(separator: "/").last.map(String.init) ?? ""
            guard existingFile, e.pathOrAddr != rule.value, !policyFileNames.contains(name) else {
                return .leftOut("would need writing the workspace \(workspace) itself, which stays read-only (the output "
                                + "directory is writable, and warden creates it before an enforced run)")
            }
            rule.value = e.pathOrAddr
        } else if rule.key == "allow.fs.write_extra", tooWide(rule.value, workspace: workspace, home: home) {
            // Writing an existing file needs only a rule on the file; creating,
            // renaming or removing needs its directory, which is too wide here.
            guard existingFile else {
                return .leftOut("would need writing all of \(rule.value), which is too wide (/, the home or above the workspace's parent)")
            }
            rule.value = e.pathOrAddr
        }
        if rule.key == "allow.fs.read_extra", tooWide(rule.value, workspace: workspace, home: home) {
            return .leftOut("reading \(rule.value) itself is too wide (/, the home or above the workspace's parent)")
        }
        if rule.key == "allow.fs.write_extra", e.action == .open, exposedSecret(rule.value, home: home) != nil {
            // Writing an existing file: the file alone, not the directory holding a secret.
            rule.value = e.pathOrAddr
        }
        if rule.key.hasPrefix("allow.fs."), let secret = exposedSecret(rule.value, home: home) {
            return .leftOut("\(rule.value) holds the secret \(secret): a rule on it would expose that too")
        }
        return .rule(rule)
    }

    /// Directories in which enough files were read to allow the directory instead, when it
    /// is neither too wide, nor in the workspace, nor holding a secret.
    static func collapsedDirectories(_ needs: [Need], workspace: String, home: String?) -> Set<String> {
        var filesByDir: [String: Set<String>] = [:]
        for n in needs where n.rule.key == "allow.fs.read_extra" {
            filesByDir[FileDecider.normalize(n.rule.value + "/.."), default: []].insert(n.rule.value)
        }
        return Set(filesByDir.filter { dir, files in
            files.count >= collapseThreshold && !tooWide(dir, workspace: workspace, home: home)
                && refusal(PolicyRule(key: "allow.fs.read_extra", value: dir), target: dir) == nil
                && exposedSecret(dir, home: home) == nil && !pathIsWithin(workspace, dir)
        }.keys)
    }

    /// One learned rule per distinct rule, with its count, units and first examples, in
    /// the order first needed.
    static func group(_ needs: [Need], collapsing collapsed: Set<String>) -> ([PolicyRule: Rule], [PolicyRule]) {
        var rules: [PolicyRule: Rule] = [:]
        var order: [PolicyRule] = []
        for n in needs {
            var rule = n.rule
            if rule.key == "allow.fs.read_extra" {
                let dir = FileDecider.normalize(rule.value + "/..")
                if collapsed.contains(dir) { rule.value = dir }
            }
            if var existing = rules[rule] {
                existing.count += 1
                if !existing.units.contains(n.unit) { existing.units.append(n.unit) }
                if existing.examples.count < 3 && !existing.examples.contains(n.target) { existing.examples.append(n.target) }
                rules[rule] = existing
            } else {
                order.append(rule)
                rules[rule] = Rule(rule: rule, units: [n.unit], count: 1, examples: [n.target])
            }
        }
        return (rules, order)
    }

    /// The rules not inside another learned one of the same kind (or a read inside a
    /// learned write: writing implies reading) and not already `covered`, each counting
    /// the ones it absorbs.
    static func outermost(_ rules: [PolicyRule: Rule], order: [PolicyRule], covered: (PolicyRule) -> Bool) -> [Rule] {
        func within(_ a: PolicyRule, _ b: PolicyRule) -> Bool {
            guard a != b, a.key.hasPrefix("allow.fs."), b.key.hasPrefix("allow.fs.") else { return false }
            guard a.key == b.key || (a.key == "allow.fs.read_extra" && b.key == "allow.fs.write_extra") else { return false }
            return pathIsWithin(a.value, b.value)
        }
        var kept: [Rule] = []
        for rule in order where !order.contains(where: { within(rule, $0) }) && !covered(rule) {
            var r = rules[rule]!
            for other in order where within(other, rule) {
                let o = rules[other]!
                r.count += o.count
                for u in o.units where !r.units.contains(u) { r.units.append(u) }
            }
            kept.append(r)
        }
        return kept.sorted { ($0.rule.key, $0.rule.value) < ($1.rule.key, $1.rule.value) }
    }
}

extension PolicyFragment {
    /// Whether this fragment's own lists already allow `rule` (exactly, or a directory
    /// above a path; writing implies reading).
    public func allows(_ rule: PolicyRule) -> Bool {
        func under(_ list: [Located<String>]) -> Bool { list.contains { pathIsWithin(rule.value, $0.value) } }
        switch rule.key {
        case "allow.fs.read_extra": return under(fsReadExtra) || under(fsWriteExtra)
        case "allow.fs.write_extra": return under(fsWriteExtra)
        case "allow.exec.allowed": return execAllowed.contains { $0.value == rule.value }
        case "allow.net.hosts": return netHosts.contains { $0.value.description == rule.value }
        default: return false
        }
    }
}
