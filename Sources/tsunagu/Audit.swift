import ArgumentParser
import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// `tsunagu audit verify`: walks the audit log's HMAC chain, holds it against the newest signed
/// anchor found (in `--audit-anchor-dir` and/or a backup) and reports the first bad position.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the audit log.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the audit log: any changed, inserted or deleted entry is reported.",
            discussion: """
                The chain shows changed and inserted entries by itself; entries deleted from its end \
                are found against the newest signed anchor in --audit-anchor-dir and in --backup \
                (the anchor a backup carries). Exit status 1 names the first bad position.
                """)
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: ArgumentHelp("Directory of the audit anchors the nodes write.", valueName: "dir"))
        var auditAnchorDir: String?
        @Option(help: ArgumentHelp("A backup whose audit anchor to check against (repeatable).", valueName: "file"))
        var backup: [String] = []

        func validate() throws {
            for file in backup where !FileManager.default.fileExists(atPath: file) {
                throw ValidationError("--backup: no such file: \(file)")
            }
            if let auditAnchorDir, !FileManager.default.fileExists(atPath: auditAnchorDir) {
                throw ValidationError("--audit-anchor-dir: no such directory: \(auditAnchorDir)")
            }
        }

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            let anchor = try newestAnchor(key: store.auditAnchorKey)
            let time = WireTime(timeZone: TimeZone(identifier: "Asia/Tokyo")!)
            switch try await store.verifyAudit(against: anchor?.anchor) {
            case .intact(let checked):
                let against = anchor.map { " (anchor of \(time.format(millis: $0.anchor.atMillis)) from \($0.source): \($0.anchor.count) entries)" } ?? " (no anchor given: a shortened log is not detectable)"
                print("audit log intact: \(checked) entries verified\(against)")
            case .tampered(let position, let checked):
                throw CLIError("audit log TAMPERED: the chain breaks at entry \(position) (\(checked) entries before it are intact)")
            case .truncated(let position, let anchored, let present):
                throw CLIError("audit log TRUNCATED: entries from \(position) on are missing (the anchor of \(time.format(millis: anchor!.anchor.atMillis)) from \(anchor!.source) counts \(anchored), the store has \(present))")
            case .diverged(let position):
                throw CLIError("audit log TAMPERED: entry \(position) is not the entry anchored by \(anchor!.source)")
            }
        }

        /// The signed anchor with the highest count among the directory and the backups. An anchor
        /// whose signature does not verify is itself a finding.
        private func newestAnchor(key: SymmetricKey) throws -> (anchor: AuditAnchor, source: String)? {
            var found: [(anchor: AuditAnchor, source: String)] = []
            if let auditAnchorDir {
                for (file, anchor) in try AuditAnchorDirectory(path: auditAnchorDir).anchors() {
                    guard let anchor, anchor.isSigned(by: key) else {
                        throw CLIError("audit anchor \(file) is not signed by this hub's key (forged or damaged)")
                    }
                    found.append((anchor, file))
                }
            }
            for file in backup {
                let anchor: AuditAnchor?
                do {
                    anchor = try StoreBackup.auditAnchor(in: file)
                } catch {
                    throw CLIError("\(file) is not a Tsunagu backup with an audit anchor")
                }
                guard let anchor else { continue }
                guard anchor.isSigned(by: key) else {
                    throw CLIError("the audit anchor in \(file) is not signed by this hub's key (forged or damaged)")
                }
                found.append((anchor, file))
            }
            return found.max { ($0.anchor.count, $0.anchor.atMillis) < ($1.anchor.count, $1.anchor.atMillis) }
        }
    }
}
