import Logging
import ServiceLifecycle

/// Runs a command's long-lived parts as a swift-service-lifecycle `ServiceGroup` that shuts down
/// gracefully on SIGTERM or SIGINT (Ctrl-C), in the reverse of the order given.
enum ServiceRunner {
    static func run(_ services: [any Service], label: String) async throws {
        let logger = Logger(label: label)
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// Returns when the group shuts down: what a command does after it (stopping what it started
/// outside the group) follows `ServiceRunner.run`.
struct UntilShutdown: Service {
    func run() async throws {
        try? await gracefulShutdown()
    }
}
