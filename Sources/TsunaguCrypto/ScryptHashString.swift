/// The stored form of a password hash, `$scrypt$ln=15,r=8,p=1$<salt>$<hash>`, with salt and
/// hash in standard base64 without padding (the PHC string format convention).
///
/// Parsing is strict: exact field order, decimal digits only, canonical base64, bounded
/// parameters and lengths. Anything else is rejected rather than guessed at.
struct ScryptHashString: Equatable {
    var parameters: PasswordHasher.Parameters
    var salt: [UInt8]
    var hash: [UInt8]

    static let identifier = "scrypt"
    /// Accepted salt lengths; RFC 7914 leaves it open, NIST SP 800-132 asks for at least 128 bits
    /// for new salts (we write 16 bytes) but older or foreign hashes may use 8.
    static let saltLengths = 8...64

    init(parameters: PasswordHasher.Parameters, salt: [UInt8], hash: [UInt8]) {
        self.parameters = parameters
        self.salt = salt
        self.hash = hash
    }

    init?(parsing text: String) {
        let fields = text.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[1] == Self.identifier else { return nil }

        let settings = fields[2].split(separator: ",", omittingEmptySubsequences: false)
        guard settings.count == 3,
              let logN = Self.value(settings[0], name: "ln"),
              let r = Self.value(settings[1], name: "r"),
              let p = Self.value(settings[2], name: "p")
        else { return nil }
        let parameters = PasswordHasher.Parameters(logN: logN, r: r, p: p)
        guard parameters.isWithinLimits,
              let salt = ByteEncoding.bytes(base64NoPadding: String(fields[3])),
              let hash = ByteEncoding.bytes(base64NoPadding: String(fields[4])),
              Self.saltLengths.contains(salt.count), hash.count == PasswordHasher.hashByteCount
        else { return nil }
        self.init(parameters: parameters, salt: salt, hash: hash)
    }

    var encoded: String {
        "$\(Self.identifier)$ln=\(parameters.logN),r=\(parameters.r),p=\(parameters.p)"
            + "$\(ByteEncoding.base64NoPadding(salt))$\(ByteEncoding.base64NoPadding(hash))"
    }

    /// Parses "name=digits" with 1 to 4 ASCII digits (no sign, no overflow).
    private static func value(_ setting: Substring, name: String) -> Int? {
        guard setting.hasPrefix(name + "=") else { return nil }
        let digits = setting.dropFirst(name.count + 1)
        guard (1...4).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }
}
