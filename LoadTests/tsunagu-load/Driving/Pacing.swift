/// How a publisher paces its posts.
enum Pacing: Sendable {
    /// Open loop: this many posts per second, whatever the server does.
    case rate(Double)
    /// Closed loop: this many posts in flight; a new one as soon as one is answered.
    case window(Int)
}
