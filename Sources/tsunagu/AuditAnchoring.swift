import Foundation
import Logging
import ServiceLifecycle
import TsunaguCrypto
import TsunaguStore

/// A node's audit anchors (docs/security.md, "Audit log"): a signed checkpoint of the chain into
/// `--audit-anchor-dir` every `interval`, sooner when `countTrigger` entries were added since the
/// last one (checked every `pollInterval`), and once more at shutdown. Several nodes anchoring the
/// same store is fine: every anchor is true of the chain when it was taken.
struct AuditAnchoring: Service {
    let store: HubStore
    let key: SymmetricKey
    let directory: AuditAnchorDirectory
    var interval: Duration = .seconds(300)
    var pollInterval: Duration = .seconds(10)
    var countTrigger: Int64 = 200
    let logger = Logger(label: "tsunagu.audit-anchor")

    func run() async throws {
        await cancelWhenGracefulShutdown { await anchorRegularly() }
        _ = await anchor(fallback: -1)
    }

    private func anchorRegularly() async {
        var last = await anchor(fallback: -1)
        var sinceAnchor: Duration = .zero
        while !Task.isCancelled {
            try? await Task.sleep(for: pollInterval)
            sinceAnchor += pollInterval
            let count = (try? await store.auditHead().count) ?? last
            if sinceAnchor >= interval || count - last >= countTrigger {
                last = await anchor(fallback: last)
                sinceAnchor = .zero
            }
        }
    }

    /// Writes an anchor of the chain as it is; answers its count (or `fallback` when it failed).
    private func anchor(fallback: Int64) async -> Int64 {
        do {
            let anchor = try await store.auditAnchor(key: key)
            try directory.write(anchor)
            return anchor.count
        } catch {
            logger.error("audit anchor not written", metadata: ["tsunagu.error": "\(error)"])
            return fallback
        }
    }
}
