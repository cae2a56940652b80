import Foundation
import NIOPosix
import TsunaguClient
import TsunaguCore
import TsunaguTestSupport

/// A small client of the W3C WebDriver protocol (https://www.w3.org/TR/webdriver2/) for Debian's
/// `chromedriver` driving headless `chromium`: just the commands the web client's tests use. JSON
/// over HTTP on loopback, spoken with the package's own HTTP client (no new dependency).
final class ChromeDriver: @unchecked Sendable {
    let process = Process()
    let port: Int
    let http: TsunaguHTTPClient

    static var binaries: (chromium: String, driver: String)? {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let driver = ["/usr/bin/chromedriver"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium, let driver else { return nil }
        return (chromium, driver)
    }

    static func start() async throws -> ChromeDriver {
        guard let binaries else { throw TestFailure("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)") }
        let port = try FreePort.loopback()
        let driver = try await offPool { try ChromeDriver(driver: binaries.driver, port: port) }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let status = try? await driver.http.send("GET", "/status"), status.json?["value"]?["ready"]?.boolValue == true {
                return driver
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await driver.stop()
        throw TestFailure("chromedriver did not become ready")
    }

    private init(driver: String, port: Int) throws {
        self.port = port
        var client = TsunaguHTTPClient(host: "127.0.0.1", port: port, group: MultiThreadedEventLoopGroup.singleton)
        client.timeout = .seconds(60)
        http = client
        // Under `nice` (which execs it, so the pid stays chromedriver's): the browsers it starts
        // inherit the lower priority and leave the CPU to the nodes and the suite's other tests,
        // several of which count acknowledgements within deadlines.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
        process.arguments = ["-n", "15", driver, "--port=\(port)", "--allowed-ips=127.0.0.1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// A new browser: its own profile, so its own sessionStorage (a second person at another PC).
    func newSession(width: Int = 1280, height: Int = 900) async throws -> BrowserSession {
        let chromium = ChromeDriver.binaries!.chromium
        let reply = try await http.send("POST", "/session", json: ["capabilities": ["alwaysMatch": .object([
            "browserName": "chrome",
            "goog:chromeOptions": .object([
                "binary": .string(chromium),
                "args": .array(["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                                "--no-first-run", "--lang=ja", "--window-size=\(width),\(height)",
                                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                                "--renderer-process-limit=2"].map { .string($0) }),
            ]),
        ])]])
        guard let id = reply.json?["value"]?["sessionId"]?.stringValue else {
            throw TestFailure("chromedriver refused a session: \(reply.text.prefix(300))")
        }
        return BrowserSession(driver: self, id: id)
    }

    /// SIGKILL: chromedriver does not exit on SIGTERM while it has browsers (and the test's
    /// sessions are already closed by then).
    func stop() async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        let process = self.process
        _ = try? await offPool { process.waitUntilExit() }
    }
}

/// One browser (a WebDriver session).
struct BrowserSession: Sendable {
    let driver: ChromeDriver
    let id: String
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    struct Element: Sendable { let id: String }

    @discardableResult
    func command(_ method: String, _ path: String, _ body: JSONObject? = nil) async throws -> JSONValue {
        let reply = try await driver.http.send(method, "/session/\(id)\(path)", json: body ?? (method == "POST" ? [:] : nil))
        guard (200..<300).contains(reply.status) else {
            throw TestFailure("WebDriver \(method) \(path): \(reply.status) \(reply.json?["value"]?["message"]?.stringValue?.prefix(300) ?? "")")
        }
        return reply.json?["value"] ?? .null
    }

    func open(_ url: String) async throws { try await command("POST", "/url", ["url": .string(url)]) }

    func find(_ css: String) async throws -> Element {
        let value = try await command("POST", "/element", ["using": "css selector", "value": .string(css)])
        guard let id = value[Self.elementKey]?.stringValue else { throw TestFailure("no element \(css)") }
        return Element(id: id)
    }

    func findAll(_ css: String) async throws -> [Element] {
        let value = try await command("POST", "/elements", ["using": "css selector", "value": .string(css)])
        return (value.arrayValue ?? []).compactMap { $0[Self.elementKey]?.stringValue.map(Element.init) }
    }

    /// Waits until `css` matches (the page renders asynchronously).
    func waitFor(_ css: String, seconds: Double = 10) async throws -> Element {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            if let element = try? await find(css) { return element }
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(css)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the script returns true.
    func waitUntil(_ what: String, seconds: Double = 10, _ script: String, _ arguments: [JSONValue] = []) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            if (try? await execute(script, arguments))?.boolValue == true { return }
            guard ContinuousClock.now < deadline else {
                // What the page showed, to say why (test data only: no real names or secrets).
                let shown = (try? await execute("""
                    return location.hash + ' | ' + document.body.innerText + ' | errors: ' + (window.__errors || []).join('; ')
                      + ' | main: ' + document.getElementById('main').innerHTML.slice(0, 300)
                    """))?.stringValue ?? ""
                throw TestFailure("timed out waiting until \(what); the page showed: \(shown.prefix(600))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func click(_ element: Element) async throws { try await command("POST", "/element/\(element.id)/click") }
    func click(_ css: String) async throws { try await click(try waitFor(css)) }

    func type(_ css: String, _ text: String) async throws {
        let element = try await waitFor(css)
        try await command("POST", "/element/\(element.id)/clear")
        try await command("POST", "/element/\(element.id)/value", ["text": .string(text)])
    }

    func text(_ css: String) async throws -> String {
        let element = try await waitFor(css)
        return try await command("GET", "/element/\(element.id)/text").stringValue ?? ""
    }

    @discardableResult
    func execute(_ script: String, _ arguments: [JSONValue] = []) async throws -> JSONValue {
        try await command("POST", "/execute/sync", ["script": .string(script), "args": .array(arguments)])
    }

    /// Key presses through the Actions API (e.g. "\u{E004}" Tab, "\u{E009}" Control, "\u{E007}" Enter).
    func keys(_ sequence: [(down: Bool, key: String)]) async throws {
        let actions: [JSONValue] = sequence.map { .object(["type": .string($0.down ? "keyDown" : "keyUp"), "value": .string($0.key)]) }
        try await command("POST", "/actions", ["actions": .array([.object(["type": "key", "id": "keyboard", "actions": .array(actions)])])])
        try await command("DELETE", "/actions")
    }

    func url() async throws -> String { try await command("GET", "/url").stringValue ?? "" }

    /// A PNG of the viewport at a desktop width, or emulating a 360 px phone (Chrome DevTools
    /// `Emulation.setDeviceMetricsOverride` through chromedriver).
    func screenshot(to path: String, phone: Bool = false) async throws {
        if phone {
            try await command("POST", "/goog/cdp/execute", ["cmd": "Emulation.setDeviceMetricsOverride", "params": [
                "width": 360, "height": 780, "deviceScaleFactor": 2, "mobile": true]])
            try await Task.sleep(for: .milliseconds(300))
        }
        let base64 = try await command("GET", "/screenshot").stringValue ?? ""
        if phone { try await command("POST", "/goog/cdp/execute", ["cmd": "Emulation.clearDeviceMetricsOverride", "params": [:]]) }
        guard let data = Data(base64Encoded: base64) else { throw TestFailure("no screenshot") }
        try data.write(to: URL(fileURLWithPath: path))
    }

    func close() async { _ = try? await driver.http.send("DELETE", "/session/\(id)") }
}
