import Foundation
import Logging
import ServiceLifecycle
import TsunaguMail
import TsunaguStore

/// Keeps mail no longer than its links live (docs/security.md, "Plaintext outside the store"):
/// every `interval`, queued mail older than the link lifetime leaves the store, and `.eml` files
/// of the directory transport (where the files are the delivery) older than that are deleted.
struct MailRetention: Service {
    let store: HubStore
    let transport: (any MailTransport)?
    let lifetimeMillis: Int64
    var interval: Duration = .seconds(60)
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await purge(now: Date())
                try? await Task.sleep(for: interval)
            }
        }
    }

    func purge(now: Date) async {
        let cutoff = now.addingTimeInterval(-Double(lifetimeMillis) / 1000)
        do {
            let rows = try await store.purgeMail(createdBefore: Int64(cutoff.timeIntervalSince1970 * 1000))
            let files = try (transport as? DirectoryTransport)?.purge(writtenBefore: cutoff) ?? 0
            if rows + files > 0 {
                logger.info("expired mail purged", metadata: ["mail.rows": "\(rows)", "mail.files": "\(files)"])
            }
        } catch {
            logger.error("expired mail not purged", metadata: ["mail.error": "\(error)"])
        }
    }
}
