import Testing
import WardenRun

/// What a run as plain root says it cannot stop depends on the kernel: the read-only view
/// (mount_setattr) keeps the build off root's files, Landlock's scoping (ABI 6) off root's
/// processes; with both, nothing is left to say.
@Suite struct PlainRootGapTests {
    @Test func eachMissingLayerIsNamedAndNoneIsSaidWithBoth() throws {
        #expect(Runner.plainRootGap(landlockABI: 6, readOnlyView: true) == nil)
        let files = try #require(Runner.plainRootGap(landlockABI: 7, readOnlyView: false))
        #expect(files.contains("chmod, chown") && files.contains("mount_setattr") && !files.contains("signal"))
        let signals = try #require(Runner.plainRootGap(landlockABI: 5, readOnlyView: true))
        #expect(signals.contains("signal root's processes") && !signals.contains("chmod"))
        let both = try #require(Runner.plainRootGap(landlockABI: nil, readOnlyView: false))
        #expect(both.contains("chmod") && both.contains("signal") && both.hasSuffix("prefer sudo from a normal account"))
    }
}
