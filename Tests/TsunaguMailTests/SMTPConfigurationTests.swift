import Testing

@testable import TsunaguMail

@Suite("SMTP URL parsing and address validation")
struct SMTPConfigurationTests {
    @Test func hostAndPort() throws {
        let configuration = try SMTPConfiguration.parse(url: "smtp://mail.example.jp:587")
        #expect(configuration.host == "mail.example.jp")
        #expect(configuration.port == 587)
        #expect(configuration.username == nil && configuration.password == nil)
        #expect(configuration.useSTARTTLSWhenOffered && !configuration.requireTLS)
        #expect(configuration.commandTimeout == .seconds(30))
        #expect(configuration.tlsTrustRoots == .system)
    }

    @Test func defaultPortAndIPv4() throws {
        #expect(try SMTPConfiguration.parse(url: "smtp://127.0.0.1").port == 25)
        #expect(try SMTPConfiguration.parse(url: "SMTP://127.0.0.1:2525/").host == "127.0.0.1")
    }

    /// Issue 11 item 5: smtps:// is implicit TLS (port 465 by default); a URL may name the user
    /// alone, the password then coming from a file or the environment.
    @Test func item5SmtpsAndAUserWithoutAPassword() throws {
        let configuration = try SMTPConfiguration.parse(url: "smtps://hub@mail.example.jp")
        #expect(configuration.implicitTLS && configuration.port == 465)
        #expect(configuration.username == "hub" && configuration.password == nil)
        #expect(!(try SMTPConfiguration.parse(url: "smtp://mail.example.jp")).implicitTLS)
    }

    @Test func percentEncodedCredentials() throws {
        let configuration = try SMTPConfiguration.parse(url: "smtp://hub%40example.jp:p%3Ass%2Fw@mail.example.jp:587")
        #expect(configuration.username == "hub@example.jp")
        #expect(configuration.password == "p:ss/w")
    }

    @Test(arguments: [
        ("mail.example.jp:25", "smtp://HOST:PORT"),
        ("http://mail.example.jp", "unsupported scheme 'http'"),
        ("smtp://:25", "no host"),
        ("smtp://mail.example.jp:0", "between 1 and 65535"),
        ("smtp://mail.example.jp:70000", "between 1 and 65535"),
        ("smtp://mail.example.jp:25/inbox", "path"),
        ("smtp://mail.example.jp:25?tls=1", "query"),
        ("smtp://:pw@mail.example.jp:25", "USER@ or USER:PASSWORD@"),
        ("smtp://mail example.jp", "malformed"),
    ])
    func badURLsGiveClearErrors(url: String, expected: String) {
        do {
            _ = try SMTPConfiguration.parse(url: url)
            Issue.record("\(url) was accepted")
        } catch let error as SMTPError {
            guard case .invalidConfiguration(let reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(reason.contains(expected), "\(reason)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func errorsNeverRepeatThePassword() {
        do {
            _ = try SMTPConfiguration.parse(url: "smtp://hub:topsecret@mail.example.jp:99999")
        } catch {
            #expect(!"\(error)".contains("topsecret"))
        }
    }

    @Test func helloNameValidation() {
        #expect(SMTPTransport.isValidHeloName("hub-1.tsunagu.example"))
        #expect(SMTPTransport.isValidHeloName("[127.0.0.1]"))
        #expect(!SMTPTransport.isValidHeloName("hub\r\nRCPT TO:<x@y>"))
        #expect(!SMTPTransport.isValidHeloName(""))
    }

    @Test(arguments: [
        "a@b", "nurse.tanaka+tsunagu@clinic.example.jp", "x_y-z@sub.domain.example",
    ])
    func goodAddresses(address: String) throws {
        try MailAddress.validate(address, field: "recipient")
    }

    @Test(arguments: [
        ("", "empty"),
        ("nurse@clinic.example\r\nRCPT TO:<evil@x>", "CR or LF"),
        ("nurse@clinic.example> SIZE=1", "'<' or '>'"),
        ("nurse tanaka@clinic.example", "space"),
        ("nurse@clinic.example>", "'<' or '>'"),
        ("<nurse@clinic.example", "'<' or '>'"),
        ("nurse", "exactly one '@'"),
        ("a@b@c", "exactly one '@'"),
        ("@clinic.example", "local part"),
        ("nurse@", "malformed domain"),
        ("nurse@clinic..example", "malformed domain"),
        ("看護師@clinic.example", "not ASCII"),
        ("\"quoted\"@clinic.example", "quoting"),
    ])
    func badAddresses(address: String, reason: String) {
        #expect {
            try MailAddress.validate(address, field: "recipient")
        } throws: { error in
            guard case .invalidAddress(let text) = error as? SMTPError else { return false }
            return text.contains(reason) && text.hasPrefix("recipient") && (address.isEmpty || !text.contains(address))
        }
    }

    @Test func logsCarryTheDomainOnly() {
        #expect(MailAddress.domain(of: "nurse.tanaka@clinic.example.jp") == "clinic.example.jp")
        #expect(MailAddress.domain(of: "no-at-sign") == "(none)")
        #expect(MailAddress.domain(of: "x@evil\r\nfake log line") == "evilfakelogline")
    }
}
