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
}
