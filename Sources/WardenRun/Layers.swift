import WardenOutput

/// Which layer covers each hook in this build. The BPF and Landlock/seccomp layers are
/// not part of this version, so nothing enforces: enforce mode refuses to run rather
/// than pretend, and observe mode says what it can see.
public enum LayerProbe {
    public static let hooks = ["file_open", "rename_unlink", "exec", "connect", "syscalls"]

    public static func current() -> [LayerStatus] {
        hooks.map { hook in
            if hook == "exec" {
                return LayerStatus(hook: hook, layer: "supervisor", enforcing: false,
                                   detail: "only the top-level command is checked and recorded; programs it starts are not seen")
            }
            return LayerStatus(hook: hook, layer: "none", enforcing: false,
                               detail: "no kernel layer (BPF LSM, Landlock, cgroup-BPF, seccomp) in this version")
        }
    }

    public static func anyEnforcing(_ layers: [LayerStatus]) -> Bool {
        layers.contains(where: \.enforcing)
    }
}
