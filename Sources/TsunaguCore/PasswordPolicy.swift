/// The password rules (white paper 5.17), set per organization by its admins.
public struct PasswordPolicy: Sendable, Equatable {
    public var minimumLength = 10
    /// How many of the classes lowercase, uppercase, digit, other must appear.
    public var minimumClasses = 1
    public var maximumBytes = 1024

    public init(minimumLength: Int = 10, minimumClasses: Int = 1) {
        self.minimumLength = minimumLength
        self.minimumClasses = minimumClasses
    }

    public static let allowedMinimumLengths = 8...128
    public static let allowedMinimumClasses = 1...4

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
        var classes = 0
        if password.contains(where: { $0.isLowercase }) { classes += 1 }
        if password.contains(where: { $0.isUppercase }) { classes += 1 }
        if password.contains(where: { $0.isNumber }) { classes += 1 }
        if password.contains(where: { !$0.isLetter && !$0.isNumber }) { classes += 1 }
        if classes < minimumClasses {
            return "password: use at least \(minimumClasses) of lowercase, uppercase, digits and other characters"
        }
        return nil
    }
}
