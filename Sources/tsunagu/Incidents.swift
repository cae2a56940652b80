import ArgumentParser
import Foundation
import TsunaguCore
import TsunaguNode
import TsunaguStore

/// `tsunagu incidents open | notify | close | list`: security incidents and the clock from
/// detection to notice, against the 72-hour target (docs/operations.md, "Notices, incidents
/// and monitors").
struct Incidents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record incidents and notify the affected organizations' admins within 72 hours.",
        subcommands: [Open.self, Notify.self, Close.self, List.self])
}

extension Incidents {
    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open an incident naming the affected organizations; `notify` tells their admins.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: ArgumentHelp("Affected organizations by name, comma-separated.", valueName: "name,name"))
        var orgs: String
        @Option(help: ArgumentHelp("When the incident was detected (RFC 3339); the 72-hour clock starts here.",
                                   valueName: "time"))
        var detected: String
        @Option(help: "What happened and what admins should do, in plain words (up to 2000 characters).") var text: String

        var names: [String] {
            orgs.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        func validate() throws {
            guard !names.isEmpty else { throw ValidationError("--orgs: name at least one organization") }
            guard try OperatorTime.parse(detected, flag: "--detected") <= WireTime.nowMillis() + 60_000 else {
                throw ValidationError("--detected: the detection time is in the future")
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...HubStore.maxNoticeTextLength).contains(trimmed.count) else {
                throw ValidationError("--text: 1 to \(HubStore.maxNoticeTextLength) characters")
            }
        }

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            var organizations: [OrganizationID] = []
            for name in names {
                guard let organization = try store.organization(named: name) else {
                    throw ValidationError("--orgs: no organization named '\(name)'")
                }
                organizations.append(organization.id)
            }
            let incident = try await store.openIncident(
                organizations: organizations, detectedAtMillis: try OperatorTime.parse(detected, flag: "--detected"),
                text: text)
            try store.auditSync(AuditRecord(organization: nil, actor: nil, action: "incident.open", target: incident.id,
                                            source: "cli", details: "\(organizations.count) organizations"))
            print("incident \(incident.id) opened for \(organizations.count) organizations; notify their admins with `tsunagu incidents notify \(incident.id)`")
        }
    }

    struct Notify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mail the affected organizations' admins and show them the notice (again, for an update).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The incident's id (in_…).") var id: String
        @Option(help: "Time zone of the times in the mail.") var timeZone = "Asia/Tokyo"

        func run() async throws {
            let time = try OperatorTime.wireTime(timeZone)
            let store = try storeOptions.openStore(createKey: false)
            let result: (incident: Incident, mailed: Int)
            do {
                result = try await store.notifyIncident(id: id) { OperatorNoticeMail.incident($0, time: time) }
            } catch let error as StoreError {
                throw CLIError("\(error)")
            }
            let (incident, mailed) = result
            for organization in incident.organizations {
                // In each affected organization's own audit log, which its admins read.
                try store.auditSync(AuditRecord(organization: organization, actor: nil, action: "incident.notify",
                                                target: incident.id, source: "cli"))
            }
            let delay = incident.noticeDelayMillis(nowMillis: WireTime.nowMillis())
            print("incident \(incident.id): mailed \(mailed) admins; detection to notice \(List.hours(delay)) (target 72h: \(incident.meetsNoticeTarget(nowMillis: WireTime.nowMillis()) ? "met" : "missed"))")
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close an incident; admins stop seeing its notice.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The incident's id (in_…).") var id: String

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            guard let incident = try await store.incident(id: id) else { throw CLIError("no incident \(id)") }
            guard try await store.closeIncident(id: id) else { throw CLIError("incident \(id) is closed already") }
            for organization in incident.organizations {
                try store.auditSync(AuditRecord(organization: organization, actor: nil, action: "incident.close",
                                                target: id, source: "cli"))
            }
            print("closed \(id)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Incidents with the time from detection to notice against the 72-hour target.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Time zone of the times shown.") var timeZone = "Asia/Tokyo"

        static let widths = [20, 6, 30, 30, 9, 22, 7]

        func run() async throws {
            let time = try OperatorTime.wireTime(timeZone)
            let store = try storeOptions.openStore(createKey: false)
            let now = WireTime.nowMillis()
            print(Nodes.List.row(["ID", "ORGS", "DETECTED", "NOTIFIED", "TO NOTICE", "72H TARGET", "STATE"],
                                 widths: Self.widths))
            for incident in try await store.incidents() {
                print(Nodes.List.row([
                    incident.id, String(incident.organizations.count), time.format(millis: incident.detectedAtMillis),
                    incident.notifiedAtMillis.map { time.format(millis: $0) } ?? "-",
                    Self.hours(incident.noticeDelayMillis(nowMillis: now)), Self.target(incident, now: now),
                    incident.closedAtMillis == nil ? "open" : "closed",
                ], widths: Self.widths))
            }
        }

        static func hours(_ millis: Int64) -> String {
            let minutes = max(0, millis / 60_000)
            return "\(minutes / 60)h\(String(format: "%02d", minutes % 60))m"
        }

        /// met / missed once notified; before that, the time left or how far past it is.
        static func target(_ incident: Incident, now: Int64) -> String {
            let delay = incident.noticeDelayMillis(nowMillis: now)
            if incident.notifiedAtMillis != nil { return delay <= Incident.noticeTargetMillis ? "met" : "missed" }
            let left = Incident.noticeTargetMillis - delay
            return left >= 0 ? "due, \(hours(left)) left" : "overdue by \(hours(-left))"
        }
    }
}
