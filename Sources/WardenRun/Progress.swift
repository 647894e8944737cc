import Foundation
import WardenOutput

/// The terminal's view of a running build: one status line on stderr, redrawn in place
/// (elapsed time, events, denials, lost events), when stderr is a terminal and not
/// `--quiet`; with `-v`, each denial on a line of its own as it happens. Paths come from
/// the build, so they are printed with control characters escaped.
public final class LiveProgress: @unchecked Sendable {
    private let watch: RunWatch
    private let statusLine: Bool
    private let lock = NSLock()
    private var stopped = false
    private var drawn = false
    private var thread: Thread?
    private let started = Date()
    private let done = DispatchSemaphore(value: 0)

    /// `statusLine`: draw the line (the caller checked for a terminal); `verbose`: print denials.
    public init(watch: RunWatch, statusLine: Bool, verbose: Bool) {
        self.watch = watch
        self.statusLine = statusLine
        if verbose {
            watch.onViolations = { [weak self] records in self?.print(records) }
        }
    }

    public var drawsStatusLine: Bool { statusLine }

    /// Whether standard error is a terminal.
    public static var stderrIsTerminal: Bool { isatty(2) == 1 }

    public func start() {
        guard statusLine else { return }
        let t = Thread { [self] in
            // A short build is done before a line would help.
            var next = Date().addingTimeInterval(1)
            while !isStopped {
                if Date() >= next {
                    draw()
                    next = Date().addingTimeInterval(0.5)
                }
                usleep(50_000)
            }
            done.signal()
        }
        t.name = "warden-progress"
        thread = t
        t.start()
    }

    /// Stops drawing and clears the line.
    public func stop() {
        lock.lock()
        let wasStopped = stopped
        stopped = true
        lock.unlock()
        guard !wasStopped, thread != nil else { return }
        done.wait()
        lock.lock()
        if drawn { write("\r\u{1b}[K") }
        drawn = false
        lock.unlock()
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// The status line's text for `m` after `elapsed` seconds.
    public static func line(_ m: MetricsSnapshot, elapsed: TimeInterval) -> String {
        let seconds = Int(elapsed)
        let time = seconds >= 60 ? "\(seconds / 60)m\(String(format: "%02d", seconds % 60))s" : "\(seconds)s"
        let denied = m.mode == "observe" ? "would deny" : "denied"
        return "warden: \(time), \(m.allowedTotal + m.violationsTotal) events, \(denied) \(m.violationsTotal), lost \(m.lostEvents)"
    }

    private func draw() {
        guard let m = watch.metrics else { return }
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        write("\r\u{1b}[K" + LiveProgress.line(m, elapsed: Date().timeIntervalSince(started)))
        drawn = true
    }

    /// Writes one of warden's own lines ("warden: …"), clearing the status line first.
    public func log(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        write((drawn ? "\r\u{1b}[K" : "") + "warden: \(line)\n")
        drawn = false
    }

    private func print(_ records: [EventRecord]) {
        lock.lock()
        defer { lock.unlock() }
        var text = drawn ? "\r\u{1b}[K" : ""
        drawn = false
        for r in records {
            let verb = r.isBlocked ? "denied" : "would deny"
            text += "warden: \(verb) \(r.event.action.name) \(Report.printable(r.event.pathOrAddr)) (\(r.event.unit.name))"
            if let line = r.event.suggestedPolicyLine { text += " — allow with \(Report.printable(line))" }
            text += "\n"
        }
        write(text)
    }

    private func write(_ s: String) {
        try? FileHandle.standardError.write(contentsOf: Data(s.utf8))
    }
}
