/// The password rules (white paper 5.17). One policy for the deployment today; per-organization
/// policies are the next step (docs/security.md).
public struct PasswordPolicy: Sendable {
    public var minimumLength = 10
    public var maximumBytes = 1024

    public init() {}

    /// A short list of the most used passwords (from public breach statistics); any password that
    /// contains one of them as its whole is refused.
    static let common: Set<String> = [
        "password", "password1", "password123", "123456789", "1234567890", "12345678910", "qwertyuiop",
        "qwerty123", "iloveyou", "princess", "sunshine", "football", "baseball", "welcome1", "letmein123",
        "administrator", "passw0rd", "p@ssw0rd", "trustno1", "dragon1234", "monkey1234", "abc1234567",
        "1q2w3e4r5t", "zaq12wsx", "qazwsxedc", "asdfghjkl", "superman1", "michael1", "shadow123",
        "aaaaaaaaaa", "0000000000", "1111111111", "changeme123", "tsunagu123", "hospital123",
    ]

    /// nil when acceptable, else a message for the user (never echoing the password).
    public func problem(with password: String, email: String) -> String? {
        if password.count < minimumLength { return "password: at least \(minimumLength) characters" }
        if password.utf8.count > maximumBytes { return "password: at most \(maximumBytes) bytes" }
        let lowered = password.lowercased()
        if Self.common.contains(lowered) { return "password: too common" }
        let local = email.lowercased().split(separator: "@").first.map(String.init) ?? ""
        if lowered == email.lowercased() || (local.count >= 4 && lowered.contains(local)) {
            return "password: must not contain your e-mail address"
        }
        if Set(lowered).count < 4 { return "password: too few different characters" }
        return nil
    }
}
