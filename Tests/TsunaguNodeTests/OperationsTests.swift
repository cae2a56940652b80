import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguCrypto
import TsunaguMail
import TsunaguStore
@testable import TsunaguNode

/// The white paper's operations on a live node (docs/operations.md, "Notices, incidents and
/// monitors"): notices reach subscribed clients and admins' mailboxes, incidents reach the
/// affected organizations' admins only, monitors raise alerts, the deployment shows its data location.
@Suite(.serialized) struct OperationsTests {
    static let password = "correct horse battery staple"

    /// An activated admin of `organization`, and a token.
    static func admin(_ live: LiveNode, _ organization: OrganizationID, _ email: String) async throws
        -> (user: UserRecord, token: String)
    {
        let hasher = PasswordHasher(parameters: .fastForTests)
        let user = try live.store.createUser(organization: organization, email: email, name: "Admin",
                                             passwordHash: hasher.hash(password), role: .admin)
        return (user, try await live.store.createSession(user: user, lifetimeSeconds: 3600).token)
    }

    static func configure(mailDirectory: String) -> (inout NodeConfiguration) -> Void {
        { configuration in
            configuration.noticeRefreshInterval = .milliseconds(100)
            configuration.mailTransport = DirectoryTransport(directory: mailDirectory)
            configuration.dataLocation = DataLocation("JP/Tokyo")
        }
    }

    /// Waits for a mail to `recipient` with `subject` in the .eml outbox.
    static func mail(in directory: String, to recipient: String, subject: String) async throws -> Bool {
        for _ in 0..<100 {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for file in files where file.hasSuffix(".eml") {
                let text = (try? String(contentsOfFile: directory + "/" + file, encoding: .utf8)) ?? ""
                if text.contains("To: \(recipient)") && text.contains(subject) { return true }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    static func nextNotice(_ connection: TsunaguConnection) async throws -> JSONObject {
        while true {
            let push = try await connection.nextPush(timeout: .seconds(5))
            if push["type"]?.stringValue == "notice" { return push["notice"]?.objectValue ?? [:] }
        }
    }

    @Test func changeNoticeReachesSubscribedClientsAndAdminsMailboxes() async throws {
        let mailbox = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-notices-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: mailbox) }
        try await withLiveNode(Self.configure(mailDirectory: mailbox)) { live in
            let clinicAdmin = try await Self.admin(live, live.owner.organization, "admin@sakura.test")
            let pharmacyAdmin = try await Self.admin(live, live.outsider.organization, "admin@kita.test")
            let nurse = try await live.session(live.nurseToken)
            _ = try await nurse.subscribe(live.timeline)
            try await Task.sleep(for: .milliseconds(300))  // the board's first load is behind us

            let starts = WireTime.nowMillis() + 86_400_000
            let (notice, mailed) = try await live.store.addChangeNotice(
                startsAtMillis: starts, endsAtMillis: starts + 7_200_000, text: "Upgrade to 1.1 tonight; 5 minutes offline.") {
                OperatorNoticeMail.change($0, time: .japan)
            }
            #expect(mailed == 2, "every organization's admin")

            // Pushed to the connected, subscribed client.
            let pushed = try await Self.nextNotice(nurse)
            #expect(pushed["id"]?.stringValue == notice.id)
            #expect(pushed["kind"]?.stringValue == "change")
            #expect(pushed["text"]?.stringValue == "Upgrade to 1.1 tonight; 5 minutes offline.")
            #expect(pushed["starts"]?.stringValue == WireTime.japan.format(millis: starts))
            // Sent right after auth to a client that connects later.
            let family = try await live.connect()
            let auth = try await family.request(["type": "auth", "token": .string(live.familyToken)])
            #expect(auth["type"]?.stringValue == "ok")
            #expect(try await Self.nextNotice(family)["id"]?.stringValue == notice.id)
            // And over HTTP.
            let listed = try await live.http.send("GET", "/v1/notices", token: live.outsiderToken)
            #expect(listed.status == 200)
            #expect(listed.json?["notices"]?.arrayValue?.first?.objectValue?["id"]?.stringValue == notice.id)
            #expect(try await live.http.send("GET", "/v1/notices").status == 401)

            // Both admins' mailboxes.
            for admin in [clinicAdmin.user, pharmacyAdmin.user] {
                #expect(try await Self.mail(in: mailbox, to: admin.email, subject: "Tsunagu planned change"))
            }
            // Withdrawn: no longer listed.
            #expect(try await live.store.removeChangeNotice(id: notice.id))
            let after = try await live.http.send("GET", "/v1/notices", token: live.nurseToken)
            #expect(after.json?["notices"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func incidentReachesOnlyTheAffectedOrganizationsAdmins() async throws {
        let mailbox = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-incidents-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: mailbox) }
        try await withLiveNode(Self.configure(mailDirectory: mailbox)) { live in
            let clinicAdmin = try await Self.admin(live, live.owner.organization, "admin@sakura.test")
            let pharmacyAdmin = try await Self.admin(live, live.outsider.organization, "admin@kita.test")
            let adminSocket = try await live.session(clinicAdmin.token)
            let memberSocket = try await live.session(live.nurseToken)
            try await Task.sleep(for: .milliseconds(300))

            let detected = WireTime.nowMillis() - 5 * 3_600_000
            let incident = try await live.store.openIncident(organizations: [live.owner.organization],
                                                             detectedAtMillis: detected, text: "A laptop was stolen.")
            let (notified, mailed) = try await live.store.notifyIncident(id: incident.id) {
                OperatorNoticeMail.incident($0, time: .japan)
            }
            #expect(mailed == 1)
            #expect(notified.meetsNoticeTarget(nowMillis: WireTime.nowMillis()))
            let pushed = try await Self.nextNotice(adminSocket)
            #expect(pushed["kind"]?.stringValue == "incident")
            #expect(pushed["id"]?.stringValue == incident.id)
            #expect(try await memberSocket.expectSilence(for: .milliseconds(500)) == nil, "members are not told")
            let listed = try await live.http.send("GET", "/v1/notices", token: clinicAdmin.token)
            #expect(listed.json?["notices"]?.arrayValue?.count == 1)
            let other = try await live.http.send("GET", "/v1/notices", token: pharmacyAdmin.token)
            #expect(other.json?["notices"]?.arrayValue?.isEmpty == true, "another organization's admin sees nothing")
            #expect(try await Self.mail(in: mailbox, to: clinicAdmin.user.email, subject: "security incident"))

            // Closed: gone from the list.
            #expect(try await live.store.closeIncident(id: incident.id))
            let closed = try await live.http.send("GET", "/v1/notices", token: clinicAdmin.token)
            #expect(closed.json?["notices"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func incidentsReportTheSeventyTwoHourTarget() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-72h-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try HubStore(path: directory + "/s.sqlite", masterKey: MasterKey(key: .random()))
        let org = try store.createOrganization(name: "Sakura Clinic")
        let now = WireTime.nowMillis()
        let late = try await store.openIncident(organizations: [org.id], detectedAtMillis: now - 80 * 3_600_000, text: "late")
        let prompt = try await store.openIncident(organizations: [org.id], detectedAtMillis: now - 3_600_000, text: "prompt")
        let pending = try await store.openIncident(organizations: [org.id], detectedAtMillis: now - 70 * 3_600_000, text: "pending")
        for incident in [late, prompt] {
            _ = try await store.notifyIncident(id: incident.id) { _ in OperatorMail(subject: "s", body: "b") }
        }
        let byID = Dictionary(uniqueKeysWithValues: try await store.incidents().map { ($0.id, $0) })
        #expect(byID[late.id]?.meetsNoticeTarget(nowMillis: WireTime.nowMillis()) == false)
        #expect(byID[prompt.id]?.meetsNoticeTarget(nowMillis: WireTime.nowMillis()) == true)
        #expect(byID[pending.id]?.notifiedAtMillis == nil)
        #expect(byID[pending.id]?.meetsNoticeTarget(nowMillis: now + 3 * 3_600_000) == false, "past 72 h while waiting")
        #expect(try await store.incident(id: late.id)?.text == "late")
        // Notifying again keeps the first notice time; a closed incident cannot be notified.
        let first = byID[prompt.id]?.notifiedAtMillis
        _ = try await store.notifyIncident(id: prompt.id) { _ in OperatorMail(subject: "s", body: "b") }
        #expect(try await store.incident(id: prompt.id)?.notifiedAtMillis == first)
        #expect(try await store.closeIncident(id: prompt.id))
        await #expect(throws: StoreError.self) {
            _ = try await store.notifyIncident(id: prompt.id) { _ in OperatorMail(subject: "s", body: "b") }
        }
        // The texts people typed are encrypted at rest.
        let raw = try Data(contentsOf: URL(fileURLWithPath: store.databasePath))
        #expect(raw.range(of: Data("pending".utf8)) == nil)
    }

    @Test func monitorsRaiseAlertsToTheOrganizationsAdmins() async throws {
        let mailbox = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-monitors-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: mailbox) }
        let configure = Self.configure(mailDirectory: mailbox)
        try await withLiveNode({ configuration in
            configure(&configuration)
            configuration.monitorThresholds.loginFailures = MonitorThreshold(count: 3, windowSeconds: 60)
            configuration.monitorThresholds.patientReads = MonitorThreshold(count: 3, windowSeconds: 60)
            configuration.monitorThresholds.fanOut = MonitorThreshold(count: 3, windowSeconds: 60)
            configuration.monitorThresholds.invitations = MonitorThreshold(count: 3, windowSeconds: 60)
        }) { live in
            let clinicAdmin = try await Self.admin(live, live.owner.organization, "admin@sakura.test")
            let alerts = { () async throws -> [JSONValue] in
                try await live.http.send("GET", "/v1/admin/alerts", token: clinicAdmin.token).json?["alerts"]?.arrayValue ?? []
            }
            // Two failures: quiet. The third: an alert.
            for attempt in 0..<3 {
                _ = try await live.http.send("POST", "/v1/sessions",
                                             json: ["email": .string(live.nurse.email), "password": "wrong password!"])
                if attempt == 1 {
                    try await Task.sleep(for: .milliseconds(200))
                    #expect(try await alerts().isEmpty)
                }
            }
            let rules = { try await alerts().compactMap { $0.objectValue?["rule"]?.stringValue } }
            #expect(try await Self.eventually { try await rules().contains("login_failures") })

            // The owner opens three patient timelines and posts into each.
            let owner = try await live.session(live.ownerToken)
            for index in 0..<2 {
                let (timeline, _) = try await live.store.createTimeline(title: "Patient \(index)", kind: .patient,
                                                                        creator: live.owner)
                _ = try await owner.subscribe(timeline.id)
                _ = try await owner.post(timeline.id, "note")
            }
            _ = try await owner.subscribe(live.timeline)
            _ = try await owner.post(live.timeline, "note")
            #expect(try await Self.eventually { try await rules().contains("patient_reads") })
            #expect(try await Self.eventually { try await rules().contains("fan_out") })
            // Three invitations.
            for index in 0..<3 {
                _ = try await live.http.send("POST", "/v1/admin/users", json: [
                    "email": .string("new\(index)@sakura.test"), "name": "New", "role": "member",
                ], token: clinicAdmin.token)
            }
            #expect(try await Self.eventually { try await rules().contains("mass_invitations") })

            let alert = try #require(try await alerts().first?.objectValue)
            #expect(alert["threshold"]?.intValue == 3)
            #expect(try await Self.mail(in: mailbox, to: clinicAdmin.user.email, subject: "Tsunagu monitor alert"))
            // Only admins, and only their own organization's.
            #expect(try await live.http.send("GET", "/v1/admin/alerts", token: live.nurseToken).status == 403)
            let pharmacyAdmin = try await Self.admin(live, live.outsider.organization, "admin@kita.test")
            let other = try await live.http.send("GET", "/v1/admin/alerts", token: pharmacyAdmin.token)
            #expect(other.json?["alerts"]?.arrayValue?.isEmpty == true)
            let metrics = try await TsunaguHTTPClient(host: "127.0.0.1", port: try #require(live.node.adminPort),
                                                      group: live.group).send("GET", "/metrics").text
            #expect(metrics.contains(#"tsunagu_monitor_alerts_total{rule="login_failures"} 1"#))
        }
    }

    @Test func aNormalSessionRaisesNoAlert() async throws {
        try await withLiveNode { live in
            let clinicAdmin = try await Self.admin(live, live.owner.organization, "admin@sakura.test")
            _ = try await live.http.send("POST", "/v1/sessions", json: ["email": .string(live.nurse.email), "password": "wrong password!"])
            let nurse = try await live.session(live.nurseToken)
            _ = try await nurse.subscribe(live.timeline)
            for index in 0..<5 { _ = try await nurse.post(live.timeline, "round \(index)") }
            _ = try await live.http.send("GET", "/v1/timelines/\(live.timeline.rawValue)/events", token: live.nurseToken)
            try await Task.sleep(for: .milliseconds(300))
            let alerts = try await live.http.send("GET", "/v1/admin/alerts", token: clinicAdmin.token)
            #expect(alerts.status == 200)
            #expect(alerts.json?["alerts"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func deploymentShowsVersionAndDataLocationToAdmins() async throws {
        try await withLiveNode({ $0.dataLocation = DataLocation("JP/Tokyo") }) { live in
            let clinicAdmin = try await Self.admin(live, live.owner.organization, "admin@sakura.test")
            let reply = try await live.http.send("GET", "/v1/admin/deployment", token: clinicAdmin.token)
            #expect(reply.status == 200)
            let json = try #require(reply.json)
            #expect(json["version"]?.stringValue == BuildInfo.version)
            #expect(json["data_location"]?.objectValue?["country"]?.stringValue == "JP")
            #expect(json["data_location"]?.objectValue?["region"]?.stringValue == "Tokyo")
            #expect(try await live.http.send("GET", "/v1/admin/deployment", token: live.nurseToken).status == 403)
        }
    }

    static func eventually(_ check: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<50 {
            if try await check() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
