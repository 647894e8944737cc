import CWardenShim
import Glibc

/// The child's seccomp user-notification listener, once handed to warden: thin wrappers
/// over the shim's receive, ID_VALID and respond.
public struct SeccompListener: Sendable {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    /// One call the filter sent to warden: the calling thread, the call, its arguments.
    public struct Notification: Sendable {
        public var id: UInt64
        public var pid: UInt32
        public var nr: Int32
        public var args: [UInt64]
    }

    public enum Received: Sendable {
        case notification(Notification)
        /// Nothing within the timeout (or a call withdrawn before it was read).
        case idle
        /// No task uses the filter any more (or the listener failed).
        case closed
    }

    public func receive(timeoutMs: Int32) -> Received {
        var n = warden_notification()
        let rc = warden_notify_recv(fd, timeoutMs, &n)
        if rc == 1 {
            let args = withUnsafeBytes(of: n.args) { Array($0.bindMemory(to: UInt64.self)) }
            return .notification(Notification(id: n.id, pid: n.pid, nr: n.nr, args: args))
        }
        return rc == 0 || rc == -ENOENT ? .idle : .closed
    }

    /// Whether the call still waits for an answer (its task alive, the id not reused).
    public func isPending(_ id: UInt64) -> Bool { warden_notify_id_valid(fd, id) == 0 }

    /// Lets the call run, or fails it with `errno`; false when it was no longer pending.
    public func respond(_ id: UInt64, allow: Bool, errno: Int32) -> Bool {
        warden_notify_respond(fd, id, allow ? 1 : 0, errno) == 0
    }
}
