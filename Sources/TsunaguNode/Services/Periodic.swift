import ServiceLifecycle

/// The loop of a periodic service: runs `body` every `interval` until the task is cancelled or
/// the service group shuts down gracefully.
enum Periodic {
    static func run(every interval: Duration, _ body: @escaping @Sendable () async -> Void) async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await body()
            }
        }
    }
}
