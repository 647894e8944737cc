import Foundation
import Testing
import WardenOutput
import WardenRun

/// A policy file the build plants in a subdirectory of a make workspace (which it may
/// write) would be the policy of a run started there: no layer refuses the write, so the
/// run is caught (77) and the next run from there refuses it.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct PolicyPlantTests {
    @Test(arguments: ["warden.toml", "workspace.warden.toml"]) func aPolicyPlantedInASubdirectoryIsCaught(name: String) throws {
        try Kernel.requireRoot()
        let ws = try makeDir(["warden.toml": "net.default = \"allow\"\n"])
        let r = try warden(["run", "--", "sh", "-c", "mkdir -p sub && echo 'fs.default = \"unrestricted\"' > sub/\(name)"], cwd: ws)
        #expect(read(ws + "/sub/" + name).contains("unrestricted"), "the control: the build could write it")
        #expect(r.status == 77 && r.stderr.contains("will refuse it"), "\(r.stderr)")
        #expect(try warden(["run", "--", "true"], cwd: ws + "/sub").status == 2, "the next run there refuses it")
    }
}
