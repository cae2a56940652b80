import ArgumentParser
import Foundation
import TsunaguCore
import TsunaguNode
import TsunaguStore

/// `tsunagu notices add | list | remove`: planned-change notices. Adding one mails every
/// organization's admins at once (through the outbox, which the nodes deliver) and every
/// client sees it (`GET /v1/notices`, the `notice` message) until it ends
/// (docs/operations.md, "Notices, incidents and monitors").
struct Notices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Announce planned changes to every organization.",
        subcommands: [Add.self, List.self, Remove.self])
}

extension Notices {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Schedule a change notice; organization admins are mailed now, every user sees it until it ends.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "The kind of notice: change.") var kind: String
        @Option(help: ArgumentHelp("When the change starts (RFC 3339, e.g. 2026-12-05T22:00:00+09:00).", valueName: "time"))
        var starts: String
        @Option(help: ArgumentHelp("When it ends (default: 2 hours after the start).", valueName: "time")) var ends: String?
        @Option(help: "What users should know, in plain words (up to 2000 characters).") var text: String
        @Option(help: "Time zone of the times in the mail.") var timeZone = "Asia/Tokyo"

        func validate() throws {
            guard kind == "change" else {
                throw ValidationError("--kind: 'change' (incidents are announced with `tsunagu incidents`)")
            }
            let start = try OperatorTime.parse(starts, flag: "--starts")
            guard start > WireTime.nowMillis() else { throw ValidationError("--starts: the change must start in the future") }
            if let ends, try OperatorTime.parse(ends, flag: "--ends") <= start {
                throw ValidationError("--ends: must come after --starts")
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...HubStore.maxNoticeTextLength).contains(trimmed.count) else {
                throw ValidationError("--text: 1 to \(HubStore.maxNoticeTextLength) characters")
            }
            _ = try OperatorTime.wireTime(timeZone)
        }

        func run() async throws {
            let time = try OperatorTime.wireTime(timeZone)
            let start = try OperatorTime.parse(starts, flag: "--starts")
            let end = try ends.map { try OperatorTime.parse($0, flag: "--ends") } ?? start + 2 * 3_600_000
            let store = try storeOptions.openStore(createKey: false)
            let (notice, mailed) = try await store.addChangeNotice(startsAtMillis: start, endsAtMillis: end, text: text) {
                OperatorNoticeMail.change($0, time: time)
            }
            try store.auditSync(AuditRecord(organization: nil, actor: nil, action: "notice.add", target: notice.id,
                                            source: "cli", details: "change from \(time.format(millis: start))"))
            print("notice \(notice.id): change from \(time.format(millis: start)) to \(time.format(millis: end)); mailed \(mailed) organization admins")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Notices in force or coming, by start.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Time zone of the times shown.") var timeZone = "Asia/Tokyo"

        func run() async throws {
            let time = try OperatorTime.wireTime(timeZone)
            let store = try storeOptions.openStore(createKey: false)
            let notices = try await store.changeNotices(nowMillis: WireTime.nowMillis())
            print(Nodes.List.row(["ID", "STARTS", "ENDS", "TEXT"], widths: [20, 30, 30, 0]))
            for notice in notices {
                let text = notice.text.replacingOccurrences(of: "\n", with: " ")
                print(Nodes.List.row([notice.id, time.format(millis: notice.startsAtMillis),
                                      time.format(millis: notice.endsAtMillis),
                                      text.count > 60 ? String(text.prefix(59)) + "…" : text],
                                     widths: [20, 30, 30, 0]))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw a notice; clients stop showing it.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The notice's id (nt_…).") var id: String

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            guard try await store.removeChangeNotice(id: id) else { throw CLIError("no notice \(id)") }
            try store.auditSync(AuditRecord(organization: nil, actor: nil, action: "notice.remove", target: id,
                                            source: "cli"))
            print("removed \(id)")
        }
    }
}
