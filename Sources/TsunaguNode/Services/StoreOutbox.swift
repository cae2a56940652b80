import Foundation
import TsunaguMail
import TsunaguStore

/// The store's outbox seen through the mail worker's interface.
struct StoreOutbox: OutboxStore {
    let store: HubStore
    let from: String

    func due(now: Date, limit: Int) async throws -> [OutboxEntry] {
        try await store.leaseDueMail(now: Int64(now.timeIntervalSince1970 * 1000), limit: limit).map { mail in
            OutboxEntry(message: MailMessage(id: mail.id, from: from, to: mail.recipient, subject: mail.subject,
                                             textBody: mail.body), attempts: mail.attempts)
        }
    }

    func markSent(_ id: String, at: Date) async throws {
        try await store.markMailSent(id, at: Int64(at.timeIntervalSince1970 * 1000))
    }

    func markFailed(_ id: String, attempts: Int, nextAttempt: Date, error: String, permanent: Bool) async throws {
        try await store.markMailFailed(id, attempts: attempts, nextAttempt: Int64(nextAttempt.timeIntervalSince1970 * 1000),
                                       error: error, permanent: permanent)
    }
}
