import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import WardenOutput

/// The `--metrics-port` endpoint: `GET /metrics` (Prometheus text) and `GET /events` (the
/// most recent events as JSON) for the duration of a run, on one event-loop thread.
/// Read-only, bounded: a few connections at a time, small requests, an idle timeout, one
/// response per connection. The build may be able to reach it (net.default = "allow", or
/// an allow.net.hosts entry naming the port): all it could read is its own run's
/// counters and events, and a flood only slows the scrape, never the run or its audit
/// trail (those are on other threads). Bound before the run starts, so a port in use
/// stops warden before anything is set up.
public final class MetricsServer: @unchecked Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// The port actually bound (the one asked for, or the kernel's pick for 0).
    public let port: Int
    public let address: String

    /// At most this many connections are served at once; more are closed at once.
    static let maxConnections = 16

    /// Binds `address:port` and starts serving what `watch` holds. Throws a WardenFailure
    /// (exit 125) naming the address when it cannot bind: nothing has been started then.
    public static func start(address: String, port: Int, watch: RunWatch) throws(WardenFailure) -> MetricsServer {
        guard (0...65535).contains(port) else {
            throw WardenFailure("--metrics-port \(port) is not a port number (0 to 65535; 0 picks a free one)", code: WardenExit.usage)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connections = ConnectionCount()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 16)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard connections.enter() else { return channel.close() }
                channel.closeFuture.whenComplete { _ in connections.leave() }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(allTimeout: .seconds(10)))
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try sync.addHandler(MetricsHTTPHandler(watch: watch))
                }
            }
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 4)
        do {
            let channel = try bootstrap.bind(host: address, port: port).wait()
            let bound = channel.localAddress?.port ?? port
            return MetricsServer(group: group, channel: channel, port: bound, address: address)
        } catch {
            try? group.syncShutdownGracefully()
            let why: String
            if let e = error as? IOError, e.errnoCode == EADDRINUSE {
                why = "the port is in use by another program; choose another port, or 0 for a free one"
            } else if let e = error as? IOError, e.errnoCode == EADDRNOTAVAIL {
                why = "this machine has no such address"
            } else if let e = error as? IOError, e.errnoCode == EACCES {
                why = "permission denied"
            } else {
                why = "\(error)"
            }
            throw WardenFailure("cannot serve metrics on \(address):\(port) (--metrics-port/--metrics-address): \(why). Nothing was run.",
                                code: WardenExit.sandbox)
        }
    }

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, port: Int, address: String) {
        self.group = group
        self.channel = channel
        self.port = port
        self.address = address
    }

    /// Stops listening and closes the connections still open.
    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// Counts open connections across the event loop (one thread, but kept simple and safe).
final class ConnectionCount: @unchecked Sendable {
    private let lock = NSLock()
    private var open = 0
    func enter() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard open < MetricsServer.maxConnections else { return false }
        open += 1
        return true
    }
    func leave() {
        lock.lock()
        open -= 1
        lock.unlock()
    }
}

final class MetricsHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let watch: RunWatch
    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    init(watch: RunWatch) {
        self.watch = watch
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body(let b):
            // Nothing here takes a body: a large one is a reason to hang up.
            bodyBytes += b.readableBytes
            if bodyBytes > 4096 { context.close(promise: nil) }
        case .end:
            guard let head else { return }
            respond(context: context, head: head)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        let type: String
        var body: [UInt8]
        switch (head.method, path) {
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            if let text = watch.prometheusText() {
                (status, type, body) = (.ok, PrometheusMetrics.contentType, Array(text.utf8))
            } else {
                (status, type, body) = (.serviceUnavailable, "text/plain; charset=utf-8", Array("the run has not started yet\n".utf8))
            }
        case (.GET, "/events"), (.HEAD, "/events"):
            (status, type, body) = (.ok, "application/json", Array(watch.recentEventsJSON()))
        case (_, "/metrics"), (_, "/events"):
            (status, type, body) = (.methodNotAllowed, "text/plain; charset=utf-8", Array("only GET\n".utf8))
        default:
            (status, type, body) = (.notFound, "text/plain; charset=utf-8", Array("warden serves /metrics and /events\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        if head.method == .HEAD { body = [] }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
