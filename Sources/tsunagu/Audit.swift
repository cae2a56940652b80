import ArgumentParser
import Foundation
import TsunaguStore

/// `tsunagu audit verify`: walks the audit log's HMAC chain and reports the first broken link.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the audit log.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the audit log's chain: any changed, inserted or deleted entry is reported.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            let (checked, broken) = try await store.verifyAuditChain()
            if let broken {
                throw CLIError("audit log TAMPERED: the chain breaks at entry \(broken) (\(checked) entries before it are intact)")
            }
            print("audit log intact: \(checked) entries verified")
        }
    }
}
