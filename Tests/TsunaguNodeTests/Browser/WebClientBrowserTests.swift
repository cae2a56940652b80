import Foundation
import NIOPosix
import Testing
import TsunaguClient
import TsunaguCore

/// The web client in a real headless Chromium (Debian's `chromium` + `chromedriver`, W3C
/// WebDriver), against real `tsunagu serve` processes behind `tsunagu balance`: activation from
/// the mailed link, login, posting, live delivery to a second browser, ack and 既読 by
/// profession, resume through the balancer after the page's node is killed, and the admin's
/// invite / role / disable (which logs the open page out). Screenshots of every screen, desktop
/// and phone, go to docs/web-client/ (docs/web-client.md).
@Suite(.serialized, .processHeavy(exclusive: true),
       .enabled(if: ChromeDriver.binaries != nil, "needs chromium and chromium-driver (.ci/run installs them)"))
struct WebClientBrowserTests {
    static let adminPassword = "Sakura-admin-passphrase-7"
    static let nursePassword = "violet harbor 92 tide"

    /// docs/web-client/ in this checkout when `TSUNAGU_WRITE_SCREENSHOTS=1` (they carry the time
    /// of the run, so an ordinary `swift test` must not rewrite tracked files); else a temporary
    /// directory — the screenshots, phone layout included, are taken either way.
    static let writesScreenshotsToDocs = ProcessInfo.processInfo.environment["TSUNAGU_WRITE_SCREENSHOTS"] == "1"
    static let screenshots: String = {
        guard writesScreenshotsToDocs else {
            return FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-screenshots-\(UUID().uuidString)").path
        }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("docs/web-client").path
    }()

    @Test(.timeLimit(.minutes(10)))
    func careTeamWorkflowInTwoBrowsersAcrossANodeFailure() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-web-\(UUID().uuidString)").path
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            if !Self.writesScreenshotsToDocs { try? FileManager.default.removeItem(atPath: Self.screenshots) }
        }
        try FileManager.default.createDirectory(atPath: Self.screenshots, withIntermediateDirectories: true)
        let store = directory + "/tsunagu.sqlite", key = directory + "/master.key"
        let common = ["--store", store, "--master-key-file", key]
        let boot = try await TsunaguExecutable.run(["admin", "bootstrap", "--org", "Sakura Clinic", "--email", "ito@sakura.test",
                                                    "--password-stdin"] + common, stdin: Self.adminPassword)
        try #require(boot.status == 0)
        // The balancer first: its address is the public URL the invitation mail links to.
        let balancer = try await NodeProcess.start(["balance", "--listen", "127.0.0.1:0"] + common)
        let base = "http://127.0.0.1:\(balancer.port)"
        var nodes: [NodeProcess] = []
        for index in 0..<2 {
            nodes.append(try await NodeProcess.start(["serve", "--listen", "127.0.0.1:0", "--node-id", "n_\(index)",
                                                      "--public-url", base] + common))
        }
        defer {
            for node in nodes { node.kill9() }
            balancer.kill9()
        }
        let http = TsunaguHTTPClient(host: "127.0.0.1", port: balancer.port, group: MultiThreadedEventLoopGroup.singleton)
        try await waitUntil("the balancer reaches both nodes", seconds: 20) {
            Set(try await (0..<6).asyncMap { _ in try await http.send("GET", "/healthz").json?["node"]?.stringValue }).count == 2
        }
        let driver = try await ChromeDriver.start()
        var browsers: [BrowserSession] = []
        do {
            browsers.append(try await driver.newSession())
            browsers.append(try await driver.newSession())
            try await scenario(admin: browsers[0], nurse: browsers[1], base: base, directory: directory, nodes: nodes)
        } catch {
            for browser in browsers { await browser.close() }
            await driver.stop()
            throw error
        }
        for browser in browsers { await browser.close() }
        await driver.stop()
    }

    private func scenario(admin: BrowserSession, nurse: BrowserSession, base: String, directory: String,
                          nodes: [NodeProcess]) async throws {

        // 1. The admin logs in (Japanese by default), sets their own profession, invites a nurse.
        try await admin.open(base + "/")
        _ = try await admin.waitFor("#login-form")
        #expect(try await admin.execute("return document.documentElement.lang").stringValue == "ja")
        try await accessibilityCheck(admin, "login")
        try await shoot(admin, "login")
        try await login(admin, "ito@sakura.test", Self.adminPassword)
        try await admin.open(base + "/#/admin")
        _ = try await admin.waitFor("tr[data-email='ito@sakura.test'] select[name=profession]")
        try await admin.execute("document.querySelector(\"tr[data-email='ito@sakura.test'] select[name=profession]\").value = 'doctor'")
        try await admin.click("tr[data-email='ito@sakura.test'] button.save")
        try await admin.type("#invite input[name=invite-email]", "sato@sakura.test")
        try await admin.type("#invite input[name=invite-name]", "佐藤 花子")
        try await admin.execute("document.querySelector('#invite select[name=invite-profession]').value = 'nurse'")
        try await admin.click("#invite button[type=submit]")
        try await admin.waitUntil("the invitation is listed as pending",
                                  "return document.querySelector('#pending').textContent.includes('sato@sakura.test')")

        // 2. The nurse activates from the link in the mail (the node's .eml outbox).
        let link = try await activationLink(outbox: directory + "/outbox", base: base)
        try await nurse.open(link)
        _ = try await nurse.waitFor("#activate-form")
        #expect(try await nurse.url() == base + "/activate", "the token leaves the address bar at once")
        try await accessibilityCheck(nurse, "activation")
        try await shoot(nurse, "activation")
        try await nurse.type("#activate-form input[name=name]", "佐藤 花子")
        try await nurse.type("#activate-form input[name=password]", "short")
        try await nurse.type("#activate-form input[name=password2]", "short")
        try await nurse.click("#activate-form button[type=submit]")
        try await nurse.waitUntil("a refused password is explained in words",
                                  "const e = document.querySelector('#activate-form .error'); return e && !e.hidden && e.textContent.length > 10")
        try await nurse.type("#activate-form input[name=password]", Self.nursePassword)
        try await nurse.type("#activate-form input[name=password2]", Self.nursePassword)
        try await nurse.click("#activate-form button[type=submit]")
        _ = try await nurse.waitFor("#login-form")

        // 3. The admin (a doctor now) creates a patient timeline and adds the nurse.
        try await admin.open(base + "/#/timelines")
        try await admin.type("input[name=title]", "患者 田中様")
        try await admin.click("form.inline-form button[type=submit]")
        try await admin.type("#add-member input[name=member-email]", "sato@sakura.test")
        try await admin.click("#add-member button[type=submit]")
        try await admin.waitUntil("the nurse is a member", "return document.querySelector('#members').textContent.includes('看護師')")

        // 4. The nurse logs in, opens the timeline and posts with Ctrl+Enter.
        try await login(nurse, "sato@sakura.test", Self.nursePassword)
        try await nurse.waitUntil("the timeline is listed",
                                  "return document.querySelector('#timeline-list a.timeline-link') !== null")
        try await accessibilityCheck(nurse, "timeline list")
        try await nurse.click("#timeline-list a.timeline-link")
        _ = try await nurse.waitFor("#composer textarea")
        let post = "BP 132/80 after lunch <script>alert(1)</script>"
        try await nurse.type("#composer textarea", post)
        let sentAt = ContinuousClock.now
        try await nurse.keys([(true, "\u{E009}"), (true, "\u{E007}"), (false, "\u{E007}"), (false, "\u{E009}")])
        // The admin's page shows it live: within a second of the nurse pressing send.
        try await admin.waitUntil("the post appears live", seconds: 5, """
            return [...document.querySelectorAll('#events li.message .body')].some((b) => b.textContent === arguments[0])
            """, [.string(post)])
        let latency = ContinuousClock.now - sentAt
        #expect(latency < .seconds(1), "the post reached the other browser after \(latency)")
        #expect(try await admin.execute("return document.querySelectorAll('#events script').length").intValue == 0,
                "user content is text, never markup")

        // 5. The admin acks; the nurse sees the ack and 既読 counted by profession.
        try await admin.click("#events li.message button.ack")
        try await nurse.waitUntil("the ack and the doctor's read receipt show", """
            const li = [...document.querySelectorAll('#events li.message')].pop();
            return li.querySelector('.acks').textContent.includes('1') && li.querySelector('.reads').textContent === '既読 1 · 医師 1'
            """)
        try await accessibilityCheck(nurse, "timeline")
        try await keyboardCheck(nurse, "timeline")
        try await shoot(nurse, "timeline")
        try await admin.open(base + "/#/timelines")
        _ = try await admin.waitFor("#timeline-list")

        // 6. The nurse's node dies. She writes while offline; the admin posts meanwhile. Her page
        // comes back through the balancer on the other node with everything, once each.
        let nurseNode = try #require(try await nurse.execute("return document.documentElement.dataset.node").stringValue)
        let victim = nurseNode == "n_0" ? 0 : 1
        nodes[victim].kill9()
        try await nurse.waitUntil("the reconnect banner shows",
                                  "const b = document.getElementById('banner'); return !b.hidden && b.classList.contains('offline')")
        try await shoot(nurse, "reconnected")
        try await nurse.type("#composer textarea", "written while offline")
        try await nurse.click("#composer button[type=submit]")
        let survivor = TsunaguHTTPClient(host: "127.0.0.1", port: nodes[1 - victim].port, group: MultiThreadedEventLoopGroup.singleton)
        let adminLogin = try await survivor.send("POST", "/v1/sessions", json: ["email": "ito@sakura.test",
                                                                              "password": .string(Self.adminPassword)])
        let adminToken = try #require(adminLogin.json?["token"]?.stringValue)
        let timeline = try #require(try await survivor.send("GET", "/v1/timelines", token: adminToken)
            .json?["timelines"]?[0]?["id"]?.stringValue)
        let publisher = try await TsunaguConnection.connect(host: "127.0.0.1", port: nodes[1 - victim].port,
                                                            group: MultiThreadedEventLoopGroup.singleton)
        _ = try await publisher.request(["type": "auth", "token": .string(adminToken)])
        for index in 1...3 {
            let ok = try await publisher.request(["type": "post", "timeline": .string(timeline),
                                                  "body": .string("while you were away \(index)"),
                                                  "client_msg_id": .string(UUID().uuidString)])
            #expect(ok["type"]?.stringValue == "ok")
        }
        // a call logged meanwhile (start and end): the page shows both entries
        let callID = UUID().uuidString
        for op in ["start", "end"] {
            let ok = try await publisher.request(["type": "call", "timeline": .string(timeline), "call_id": .string(callID),
                                                  "op": .string(op)])
            #expect(ok["type"]?.stringValue == "ok")
        }
        await publisher.close()
        let expected = [post, "while you were away 1", "while you were away 2", "while you were away 3", "written while offline"]
        try await nurse.waitUntil("the page resumed with everything", seconds: 20, """
            const bodies = [...document.querySelectorAll('#events li.message .body')].map((b) => b.textContent);
            return arguments[0].every((t) => bodies.includes(t)) && document.querySelectorAll('.pending li').length === 0
            """, [.array(expected.map { .string($0) })])
        let bodies = try await nurse.execute("""
            return [...document.querySelectorAll('#events li.message .body')].map((b) => b.textContent)
            """).arrayValue?.compactMap(\.stringValue) ?? []
        #expect(bodies.count == expected.count && Set(bodies) == Set(expected), "every message once: \(bodies.count)")
        let seqs = try await nurse.execute("""
            return [...document.querySelectorAll('#events li[data-seq]')].map((li) => Number(li.dataset.seq))
            """).arrayValue?.compactMap(\.intValue) ?? []
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "in seq order, none twice: \(seqs)")
        let calls = try await nurse.execute("return [...document.querySelectorAll('#events li.call')].map((li) => li.textContent)")
            .arrayValue?.compactMap(\.stringValue) ?? []
        #expect(calls.count == 2 && calls[0].contains("通話開始") && calls[1].contains("通話終了"), "\(calls)")
        // she logs a call of her own from the page: start, then end
        try await nurse.click("#call")
        try await nurse.waitUntil("her call start is logged", "return document.querySelectorAll('#events li.call').length === 3")
        try await nurse.click("#call")
        try await nurse.waitUntil("her call end is logged", """
            const calls = document.querySelectorAll('#events li.call');
            return calls.length === 4 && calls[3].textContent.includes('通話終了') && calls[3].textContent.includes('佐藤 花子')
            """)
        // and the server agrees: the offline post was stored once
        let history = try await survivor.send("GET", "/v1/timelines/\(timeline)/events", token: adminToken)
        let stored = history.json?["events"]?.arrayValue?.filter { $0["body"]?.stringValue == "written while offline" } ?? []
        #expect(stored.count == 1)
        #expect(try await nurse.execute("return document.documentElement.dataset.node").stringValue != nurseNode)

        // The admin's timeline list, open all along, counted her offline post as unread and shows
        // the latest event (her call's end), live.
        try await admin.waitUntil("the list is live", """
            const link = document.querySelector('#timeline-list a.timeline-link');
            return link.querySelector('.badge')?.textContent === '1' && link.querySelector('.latest').textContent.includes('通話終了')
            """)
        try await shoot(admin, "timeline-list")

        // 7. Account screen.
        try await shoot(nurse, "account", path: base + "/#/account", wait: ".profile")
        try await accessibilityCheck(nurse, "account")

        // 8. The admin changes the nurse's role, then disables her: her open page is logged out.
        try await admin.open(base + "/#/admin")
        _ = try await admin.waitFor("tr[data-email='sato@sakura.test'] select[name=role]")
        try await admin.execute("document.querySelector(\"tr[data-email='sato@sakura.test'] select[name=role]\").value = 'admin'")
        try await admin.click("tr[data-email='sato@sakura.test'] button.save")
        try await waitUntil("the role changed", seconds: 20) {
            let users = try await survivor.send("GET", "/v1/admin/users", token: adminToken).json?["users"]?.arrayValue ?? []
            return users.first { $0["email"]?.stringValue == "sato@sakura.test" }?["role"]?.stringValue == "admin"
        }
        try await accessibilityCheck(admin, "admin")
        try await keyboardCheck(admin, "admin")
        try await shoot(admin, "admin", path: base + "/#/admin", wait: "#users tr")
        try await nurse.open(base + "/#/timelines")
        _ = try await nurse.waitFor("#timeline-list")
        try await admin.waitUntil("the admin screen has loaded", "return document.querySelectorAll('#users tr').length >= 2")
        try await admin.click("tr[data-email='sato@sakura.test'] button.disable")
        try await nurse.waitUntil("the disabled user's page is logged out", seconds: 10, """
            return document.querySelector('#login-form') !== null && document.querySelector('#login-form .notice:not([hidden])') !== null
            """)
        #expect(try await nurse.execute("return sessionStorage.length + localStorage.length").intValue ?? 9 <= 1,
                "no token left behind (only the language preference may stay)")

        // 9. English on request.
        try await admin.click("#lang")
        try await admin.waitUntil("English", "return document.documentElement.lang === 'en' && document.querySelector('h1').textContent === 'Organization'")
        try await shoot(admin, "admin-en")
    }

    // MARK: helpers

    private func login(_ browser: BrowserSession, _ email: String, _ password: String) async throws {
        try await browser.type("#login-form input[name=email]", email)
        try await browser.type("#login-form input[name=password]", password)
        try await browser.click("#login-form button[type=submit]")
        try await browser.waitUntil("logged in", "return document.querySelector('#logout') !== null")
        // Script errors of the page, reported if a later wait times out.
        try await browser.execute("""
            window.__errors = [];
            window.addEventListener('error', (e) => window.__errors.push(e.message));
            window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));
            """)
    }

    /// The activation link of the newest mail in the outbox (quoted-printable decoded).
    private func activationLink(outbox: String, base: String) async throws -> String {
        var text = ""
        try await waitUntil("the invitation mail is written", seconds: 20) {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: outbox))?.filter { $0.hasSuffix(".eml") } ?? []
            guard let file = files.sorted().last else { return false }
            text = try String(contentsOfFile: outbox + "/" + file, encoding: .utf8)
            return text.contains("activate")
        }
        let decoded = text.replacingOccurrences(of: "=\r\n", with: "").replacingOccurrences(of: "=\n", with: "")
            .replacingOccurrences(of: "=3D", with: "=")
        guard let start = decoded.range(of: base + "/activate#token=") else { throw TestFailure("no link in the mail") }
        return String(decoded[start.lowerBound...].prefix { !$0.isWhitespace })
    }

    /// Every input, select and textarea has a label; every button and link has a name.
    private func accessibilityCheck(_ browser: BrowserSession, _ screen: String) async throws {
        let problems = try await browser.execute("""
            const out = [];
            for (const el of document.querySelectorAll('input, select, textarea')) {
              if (el.type === 'hidden') continue;
              const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
              if (!named) out.push('unlabelled ' + el.tagName + ' ' + (el.name || ''));
            }
            for (const el of document.querySelectorAll('button, a[href]')) {
              if (!(el.getAttribute('aria-label') || el.textContent.trim())) out.push('unnamed ' + el.tagName);
            }
            if (!document.documentElement.lang) out.push('no lang');
            return out;
            """).arrayValue?.compactMap(\.stringValue) ?? ["no answer"]
        #expect(problems.isEmpty, "\(screen): \(problems)")
    }

    /// Tab, from the skip link at the top, reaches every visible focusable element in turn: no
    /// keyboard trap, nothing out of reach.
    private func keyboardCheck(_ browser: BrowserSession, _ screen: String) async throws {
        // Up to three walks: a live update that re-renders part of the page during a walk replaces
        // elements that walk had listed (seen on a loaded machine); a real trap fails every walk.
        var outcome: (count: Int, missed: [String]) = (0, ["not walked"])
        for _ in 1...3 {
            outcome = try await tabWalk(browser)
            if outcome.count > 0 && outcome.missed.isEmpty { break }
        }
        #expect(outcome.count > 0 && outcome.missed.isEmpty, "\(screen): Tab did not reach \(outcome.missed) of \(outcome.count)")
    }

    /// One walk: focus the skip link, press Tab a few more times than there are elements, and
    /// list the visible focusable elements that focus never reached.
    private func tabWalk(_ browser: BrowserSession) async throws -> (count: Int, missed: [String]) {
        let count = try await browser.execute("""
            window.__visited = new Set();
            document.addEventListener('focusin', (e) => window.__visited.add(e.target));
            const all = [...document.querySelectorAll('a[href], button, input, select, textarea')]
              .filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0);
            window.__tabbable = all;
            document.querySelector('a.skip').focus();
            return all.length
            """).intValue ?? 0
        // a few more presses than elements: Chrome also stops on scrollable regions (the tables' wrappers)
        for _ in 0..<(count + 6) { try await browser.keys([(true, "\u{E004}"), (false, "\u{E004}")]) }
        let missed = try await browser.execute("""
            return window.__tabbable.filter((el) => el.isConnected && !window.__visited.has(el)).map((el) => el.tagName + ' ' + (el.id || el.name || el.textContent.trim()))
            """).arrayValue?.compactMap(\.stringValue) ?? ["no answer"]
        return (count, missed)
    }

    private func shoot(_ browser: BrowserSession, _ name: String, path: String? = nil, wait: String? = nil) async throws {
        if let path { try await browser.open(path) }
        if let wait { _ = try await browser.waitFor(wait) }
        try await Task.sleep(for: .milliseconds(200))
        try await browser.screenshot(to: "\(Self.screenshots)/\(name)-desktop.png")
        try await browser.screenshot(to: "\(Self.screenshots)/\(name)-phone.png", phone: true)
    }
}
