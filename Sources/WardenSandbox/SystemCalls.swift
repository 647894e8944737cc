import CWardenShim

/// The shim's calls that the run layer needs, so that WardenRun does not import the C
/// shim itself.
public enum SystemCalls {
    /// PR_SET_DUMPABLE 0: no core dump of warden, and no ptrace or /proc/PID/mem by its
    /// own uid. 0 or -errno.
    @discardableResult
    public static func setNondumpable() -> Int32 { warden_set_nondumpable() }

    /// Allocates [offset, offset+length) of `fd` without changing its size (fallocate
    /// KEEP_SIZE); 0 or -errno. EventLog's reserve.
    @Sendable public static func reserveSpace(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32 {
        warden_reserve_space(fd, offset, length)
    }
}
