import NIOCore
import TsunaguWebSocket

/// Everything a connection needs to reach the server.
struct Target: Sendable {
    var host: String
    /// The ports connections spread over, round robin (several balancers or nodes); HTTP uses the first.
    var ports: [Int]
    var path: String
    var token: String
    var compression: Bool
    /// Reconnect and resubscribe after any connection loss instead of failing the run.
    var reconnect: Bool

    /// The port of a connection's `turn`-th attempt: connection i starts at port i and moves on by one
    /// at every reconnect, so the clients of a lost port spread over the others.
    func port(turn: Int) -> Int {
        ports[turn % ports.count]
    }

    /// The source address of connection `index`: connections walk the ports first and move to the next
    /// source address after each round, so every (source, port) pair gets its share; with
    /// `sources[index % count]` two sources and two ports would pair up and use only two of four.
    func sourceAddress(from sources: [String], connection index: Int) -> String? {
        sources.isEmpty ? nil : sources[(index / ports.count) % sources.count]
    }

    /// Opens a connection's `turn`-th attempt for `owner` (a publisher or a subscriber, confined to
    /// `loop`): what arrives and the close are handed to it, tagged with the attempt, so that a
    /// late callback of an abandoned attempt can be told apart.
    func connect<Owner: LoadConnectionOwner>(turn: Int, localAddress: String?, attempt: Int,
                                             owner: NIOLoopBound<Owner>) -> EventLoopFuture<WebSocketClient> {
        WebSocketClient.connect(
            host: host, port: port(turn: turn),
            configuration: .init(path: path, offerCompression: compression, localAddress: localAddress),
            group: owner.eventLoop,
            onText: { owner.value.received($0, attempt: attempt) },
            onClose: { code, reason in owner.value.closed(code: code, reason: reason, attempt: attempt) })
    }
}

/// A load client's connection owner: it receives its connection's messages and its close.
protocol LoadConnectionOwner: AnyObject {
    func received(_ message: ByteBuffer, attempt: Int)
    func closed(code: UInt16?, reason: String, attempt: Int)
}
