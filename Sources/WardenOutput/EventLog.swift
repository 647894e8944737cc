import Foundation
import SystemPackage

/// Appends JSON lines to `warden-events.jsonl`. Each batch goes out in `write(2)` calls on
/// an O_APPEND descriptor, so after a crash the file holds whole lines plus, at worst, one
/// unterminated tail. Opening the log cuts such a tail off and readers skip it: no reader
/// ever sees a torn line.
public final class EventLog: @unchecked Sendable {
    public let path: String
    private let fd: FileDescriptor
    private let encoder: JSONEncoder
    private let lock = NSLock()

    /// Opens (or creates) the log. `O_NOFOLLOW`: warden runs as root and the log may sit
    /// where a build wrote before, so a symlink in its place is refused (ELOOP), never
    /// followed to a file elsewhere; only a regular file is taken.
    /// `reserve` allocates space past the end of the file without changing its size (the
    /// kernel's fallocate KEEP_SIZE, supplied by the caller: this layer makes no such
    /// call; 0 or -errno); nil: no reserve.
    public init(path: String, reserve: (@Sendable (_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32)? = nil) throws {
        self.path = path
        preallocate = reserve
        fd = try FileDescriptor.open(
            FilePath(path), .readWrite, options: [.append, .create, .closeOnExec, .noFollow],
            permissions: [.ownerReadWrite, .groupRead])
        var st = stat()
        guard fstat(fd.rawValue, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            try? fd.close()
            throw Errno.notPermitted
        }
        identity = (UInt64(st.st_dev), UInt64(st.st_ino))
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try repairTail()
        try reserveSpace(for: 0)
    }

    /// Bytes kept allocated past the end of the log for the records that close a run: a
    /// build that fills the disk can stop events from being written, never the run_end.
    /// The next run reuses the same blocks, so a log holds at most this much (plus its
    /// last batch) allocated beyond its size.
    public static let reserveBytes: Int64 = 1 << 20
    private let preallocate: (@Sendable (Int32, Int64, Int64) -> Int32)?
    /// false where the file system cannot preallocate (the reserve is then best effort).
    private var preallocates = true

    /// Allocates `bytes` plus the reserve past the end of the file without changing its
    /// size (FALLOC_FL_KEEP_SIZE), so writing that much cannot fail with ENOSPC.
    private func reserveSpace(for bytes: Int) throws {
        guard preallocates, let preallocate else { return }
        var st = stat()
        guard fstat(fd.rawValue, &st) == 0 else { throw Errno(rawValue: errno) }
        let rc = preallocate(fd.rawValue, Int64(st.st_size), Int64(bytes) + Self.reserveBytes)
        if rc != 0 {
            let e = Errno(rawValue: -rc)
            guard e == .notSupported || e == .invalidArgument else { throw e }
            preallocates = false
        }
    }

    /// The file's device and inode, to tell later whether `path` still names it.
    private let identity: (dev: UInt64, ino: UInt64)

    /// Gives the log to `uid`/`gid`, mode 0640, through the descriptor, never by path.
    public func chown(uid: UInt32, gid: UInt32) throws {
        if fchown(fd.rawValue, uid, gid) != 0 || fchmod(fd.rawValue, 0o640) != 0 { throw Errno(rawValue: errno) }
    }

    /// Whether `path` still names the file this log writes to: a build that may write
    /// the log's directory could have renamed it away and put another in its place.
    public var stillAtPath: Bool {
        var st = stat()
        return lstat(path, &st) == 0 && UInt64(st.st_dev) == identity.dev && UInt64(st.st_ino) == identity.ino
    }

    deinit { try? fd.close() }

    /// Drops bytes after the last newline: the remains of a write cut short by SIGKILL.
    private func repairTail() throws {
        let size = try fd.seek(offset: 0, from: .end)
        guard size > 0 else { return }
        let chunk = Int64(min(size, 64 * 1024))
        var keep = size
        var pos = size
        while pos > 0 {
            let start = max(0, pos - chunk)
            var buf = [UInt8](repeating: 0, count: Int(pos - start))
            let n = try buf.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: start, into: $0) }
            if let nl = buf[0..<n].lastIndex(of: UInt8(ascii: "\n")) {
                keep = start + Int64(nl) + 1
                break
            }
            pos = start
            keep = 0
        }
        if keep != size { try fd.resize(to: keep) }
    }

    public func encode<T: Encodable>(_ record: T) throws -> Data {
        var data = try encoder.encode(record)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Writes the lines of one batch. Each line must end in "\n". The batch is written
    /// only once its space and the reserve behind it are allocated: on a full disk it
    /// fails whole (ENOSPC) and the reserve stays. `closing` records (the run_end) write
    /// into the reserve instead.
    public func append(_ lines: [Data], closing: Bool = false) throws {
        guard !lines.isEmpty else { return }
        var batch = Data()
        for l in lines { batch.append(l) }
        lock.lock()
        defer { lock.unlock() }
        if !closing { try reserveSpace(for: batch.count) }
        _ = try batch.withUnsafeBytes { try fd.writeAll($0) }
    }

    public func append<T: Encodable>(_ record: T, closing: Bool = false) throws {
        try append([encode(record)], closing: closing)
    }

    public func sync() throws {
        lock.lock()
        defer { lock.unlock() }
        if fsync(fd.rawValue) != 0 { throw Errno(rawValue: errno) }
    }
}

/// What a reader finds in an event log, grouped by run.
public struct EventLogContents: Sendable {
    public struct Run: Sendable {
        public var start: RunRecord?
        public var events: [EventRecord] = []
        public var end: RunEndRecord?
        /// Calls notify rules sent to warden's agent, with its answers.
        public var notified: [NotifyRecord] = []
        public var runId: String
    }

    public var runs: [Run] = []
    /// Lines that are not valid records (reported, never silently dropped).
    public var invalidLines: [Int] = []
    /// Whether the file ended in an unterminated line (a write cut short).
    public var tornTail = false

    public var lastRun: Run? { runs.last }

    public static func read(path: String) throws -> EventLogContents {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return parse(data)
    }

    public static func parse(_ data: Data) -> EventLogContents {
        var out = EventLogContents()
        var index: [String: Int] = [:]
        let decoder = JSONDecoder()
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if let last = lines.last, !last.isEmpty {
            out.tornTail = true
        }
        lines.removeLast()
        struct Kind: Decodable { var type: String; var run_id: String }
        for (i, line) in lines.enumerated() where !line.isEmpty {
            let bytes = Data(line)
            guard let kind = try? decoder.decode(Kind.self, from: bytes) else {
                out.invalidLines.append(i + 1)
                continue
            }
            let slot: Int
            if let s = index[kind.run_id] {
                slot = s
            } else {
                slot = out.runs.count
                index[kind.run_id] = slot
                out.runs.append(Run(runId: kind.run_id))
            }
            switch kind.type {
            case "run":
                if let r = try? decoder.decode(RunRecord.self, from: bytes) { out.runs[slot].start = r } else { out.invalidLines.append(i + 1) }
            case "event":
                if let r = try? decoder.decode(EventRecord.self, from: bytes) { out.runs[slot].events.append(r) } else { out.invalidLines.append(i + 1) }
            case "syscall_notify":
                if let r = try? decoder.decode(NotifyRecord.self, from: bytes) { out.runs[slot].notified.append(r) } else { out.invalidLines.append(i + 1) }
            case "run_end":
                if let r = try? decoder.decode(RunEndRecord.self, from: bytes) { out.runs[slot].end = r } else { out.invalidLines.append(i + 1) }
            default:
                out.invalidLines.append(i + 1)
            }
        }
        return out
    }
}
