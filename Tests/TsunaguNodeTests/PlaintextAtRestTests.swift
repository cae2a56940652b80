import Foundation
import NIOPosix
import Testing
import TsunaguClient
import TsunaguCore

/// A scripted day of use on a real node process (a patient timeline and posts, an invitation and
/// its registration, a password reset, a backup), then a search of everything it left on disk —
/// the store, its WAL, the backups, the mail outbox, the node's log — for what must never be there
/// in the clear: bodies, names, titles, e-mail addresses, tokens (docs/security.md, "Plaintext
/// outside the store").
@Suite(.serialized, .processHeavy) struct PlaintextAtRestTests {
    /// `tsunagu serve` with its output in `log`; answers the process and its port.
    private func serve(_ store: OperatorStore, log: String) async throws -> (Process, Int) {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = TsunaguExecutable.url
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--node-id", "n_day", "--link-lifetime", "600"] + store.common
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try handle.seekToEnd()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        for _ in 0..<200 {
            let text = String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on") }),
               let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
                return (process, port)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.terminate()
        throw TestFailure("the node did not start")
    }

    private func stop(_ process: Process) {
        process.terminate()
        process.waitUntilExit()
    }

    /// The link token of the newest mail to `address` in the outbox (quoted-printable undone).
    private func token(in outbox: String, containing marker: String) throws -> String {
        let files = try FileManager.default.contentsOfDirectory(atPath: outbox).filter { $0.hasSuffix(".eml") }
        for file in files {
            let raw = String(decoding: FileManager.default.contents(atPath: outbox + "/" + file) ?? Data(), as: UTF8.self)
            let text = raw.replacingOccurrences(of: "=\r\n", with: "").replacingOccurrences(of: "=\n", with: "")
                .replacingOccurrences(of: "=3D", with: "=")
            guard text.contains(marker), let range = text.range(of: "#token=") else { continue }
            return String(text[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        }
        throw TestFailure("no mail for \(marker)")
    }

    @Test func aDayOfUseLeavesNoBodyNameTitleAddressOrTokenInTheClear() async throws {
        let store = try await OperatorStore.make("day")
        defer { store.remove() }
        let data = store.directory + "/data"
        let outbox = data + "/outbox"
        try FileManager.default.createDirectory(atPath: data + "/logs", withIntermediateDirectories: true)
        let (node, port) = try await serve(store, log: data + "/logs/node.log")
        var secrets: [String] = ["a@o.test", "b@o.test", "long enough password"]
        do {
            let http = TsunaguHTTPClient(host: "127.0.0.1", port: port, group: MultiThreadedEventLoopGroup.singleton)
            let login = try await http.send("POST", "/v1/sessions", json: ["email": "a@o.test", "password": "long enough password"])
            let adminToken = try #require(login.json?["token"]?.stringValue)
            secrets.append(adminToken)
            let title = "Yamamoto Chiyoko"
            let created = try await http.send("POST", "/v1/timelines", json: ["title": .string(title), "kind": "patient"],
                                              token: adminToken)
            let timeline = try #require(created.json?["id"]?.stringValue.flatMap(TimelineID.init))
            secrets.append(title)

            let connection = try await TsunaguConnection.connect(host: "127.0.0.1", port: port,
                                                                 group: MultiThreadedEventLoopGroup.singleton)
            #expect(try await connection.request(["type": "auth", "token": .string(adminToken)])["type"]?.stringValue == "ok")
            for index in 0..<5 {
                let body = "Blood pressure reading \(index): 128 over 82, insulin 6 units"
                let reply = try await connection.request(["type": "post", "timeline": .string(timeline.rawValue),
                                                          "body": .string(body), "client_msg_id": .string(UUID().uuidString)])
                #expect(reply["type"]?.stringValue == "ok", "\(reply)")
                secrets.append(body)
            }
            await connection.close()

            // An invitation and its registration; a password reset of an existing account.
            let invited = try await http.send("POST", "/v1/admin/users",
                                              json: ["email": "kimura.sachiko@example.test", "name": "Kimura Sachiko"],
                                              token: adminToken)
            #expect(invited.status == 201, "\(invited.status)")
            secrets += ["kimura.sachiko@example.test", "Kimura Sachiko"]
            #expect(try await http.send("POST", "/v1/registrations", json: ["email": "b@o.test"]).status == 202)
            var waited = 0
            while (try? FileManager.default.contentsOfDirectory(atPath: outbox).filter { $0.hasSuffix(".eml") }.count) ?? 0 < 2,
                  waited < 100 {
                try await Task.sleep(for: .milliseconds(100))
                waited += 1
            }
            let invitation = try token(in: outbox, containing: "kimura.sachiko")
            let reset = try token(in: outbox, containing: "b@o.test")
            secrets += [invitation, reset]
            let completed = try await http.send("POST", "/v1/registrations/complete",
                                                json: ["token": .string(invitation), "name": "Kimura Sachiko",
                                                       "password": "another long passphrase 7"])
            #expect(completed.status == 200, "\(completed.status)")
            secrets.append("another long passphrase 7")
            // Reading history too (an audited read).
            #expect(try await http.send("GET", "/v1/timelines/\(timeline.rawValue)/events", token: adminToken).status == 200)
        } catch {
            stop(node)
            throw error
        }
        let backup = try await TsunaguExecutable.run(["backup", "--audit-anchor-dir", data + "/anchors"] + store.common)
        #expect(backup.status == 0, "\(backup.output)")
        stop(node)

        // The links expire: make the mail look two hours old, and let a node's retention run.
        for file in try FileManager.default.contentsOfDirectory(atPath: outbox) {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)],
                                                  ofItemAtPath: outbox + "/" + file)
        }
        let (again, _) = try await serve(store, log: data + "/logs/node-2.log")
        for _ in 0..<50 where !((try? FileManager.default.contentsOfDirectory(atPath: outbox).isEmpty) ?? true) {
            try await Task.sleep(for: .milliseconds(100))
        }
        stop(again)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outbox).isEmpty)

        // Everything under the data directory: store, WAL, backups, anchors, outbox, logs.
        let files = FileManager.default.enumerator(atPath: data)?.compactMap { $0 as? String } ?? []
        var searched = 0
        for file in files {
            let path = data + "/" + file
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let bytes = FileManager.default.contents(atPath: path) else { continue }
            searched += 1
            for secret in secrets {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(file) holds a secret in the clear (#\(secrets.firstIndex(of: secret)!))")
            }
        }
        #expect(searched >= 4)
    }
}
