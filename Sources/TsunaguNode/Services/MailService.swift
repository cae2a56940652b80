import ServiceLifecycle
import TsunaguMail

/// The outbox delivery worker as a service of the node.
struct MailService: Service {
    let worker: MailDeliveryWorker

    func run() async throws {
        await cancelWhenGracefulShutdown { await worker.run() }
    }
}
