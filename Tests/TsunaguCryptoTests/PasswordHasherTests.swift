import Testing
@testable import TsunaguCrypto

@Suite struct PasswordHasherTests {
    let hasher = PasswordHasher(parameters: .fastForTests)

    // RFC 7914 section 12, third vector.
    @Test func scryptRFC7914Vector() throws {
        let derived = try Scrypt.derive(password: Array("password".utf8), salt: Array("NaCl".utf8),
                                        n: 1024, r: 8, p: 16, length: 64)
        #expect(hex(derived) == """
            fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162\
            2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640
            """)
    }

    // RFC 7914 section 12, first vector: empty password and salt.
    @Test func scryptRFC7914EmptyVector() throws {
        let derived = try Scrypt.derive(password: [], salt: [], n: 16, r: 1, p: 1, length: 64)
        #expect(hex(derived) == """
            77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442\
            fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906
            """)
    }

    @Test func hashFormatAndRoundTrip() throws {
        let stored = hasher.hash("correct horse battery staple")
        let fields = stored.split(separator: "$", omittingEmptySubsequences: false)
        #expect(fields.count == 5)
        #expect(stored.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
        #expect(fields[3].count == 22 && fields[4].count == 43)  // 16 and 32 bytes, unpadded
        #expect(!fields[3].contains("=") && !fields[4].contains("="))
        #expect(hasher.verify("correct horse battery staple", against: stored))
        #expect(!hasher.verify("correct horse battery stapl", against: stored))
        #expect(!hasher.verify("", against: stored))
        // Parameters come from the stored string: a hasher with other defaults still verifies.
        #expect(PasswordHasher(parameters: .init(logN: 11, r: 8, p: 1)).verify("correct horse battery staple", against: stored))
    }

    @Test func standardParametersWork() {
        // N = 2^15, r = 8 needs just over OpenSSL's default 32 MiB scrypt memory limit.
        let standard = PasswordHasher()
        let stored = standard.hash("pw")
        #expect(stored.hasPrefix("$scrypt$ln=15,r=8,p=1$"))
        #expect(standard.verify("pw", against: stored))
        #expect(!standard.needsRehash(stored))
    }

    @Test func saltMakesHashesDiffer() {
        #expect(hasher.hash("same") != hasher.hash("same"))
        let unicode = hasher.hash("pässwörd 🔑")
        #expect(hasher.verify("pässwörd 🔑", against: unicode))
    }

    @Test func malformedStoredStringsAreRejected() {
        let good = hasher.hash("pw")
        let parts = good.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        let salt = parts[3], hash = parts[4]
        let malformed = [
            "", "$", "$$$$", "pw", good + "$", "$" + good,
            "$argon2id$ln=10,r=8,p=1$\(salt)$\(hash)",
            "$scrypt$ln=10,r=8$\(salt)$\(hash)",
            "$scrypt$r=8,ln=10,p=1$\(salt)$\(hash)",
            "$scrypt$ln=+10,r=8,p=1$\(salt)$\(hash)",
            "$scrypt$ln=10,r=8,p=1$\(salt)!$\(hash)",
            "$scrypt$ln=10,r=8,p=1$\(salt)$\(hash)==",
            "$scrypt$ln=10,r=8,p=1$\(salt)$\(hash.dropLast(2))",
            "$scrypt$ln=10,r=8,p=1$$\(hash)",
            "$scrypt$ln=21,r=8,p=1$\(salt)$\(hash)",
            "$scrypt$ln=99999,r=8,p=1$\(salt)$\(hash)",
            "$scrypt$ln=0,r=8,p=1$\(salt)$\(hash)",
            "$scrypt$ln=10,r=0,p=1$\(salt)$\(hash)",
            "$scrypt$ln=10,r=64,p=64$\(salt)$\(hash)",
            "$scrypt$ln=20,r=64,p=1$\(salt)$\(hash)",
            "$scrypt$ln=20,r=8,p=1$\(salt)$\(hash)",  // 1 GiB: over the memory bound
            "$scrypt$ln=99999999999999999999,r=8,p=1$\(salt)$\(hash)",
        ]
        for stored in malformed {
            #expect(!hasher.verify("pw", against: stored), "\(stored)")
        }
    }

    @Test func needsRehash() {
        let weak = hasher.hash("pw")
        let strong = PasswordHasher(parameters: .standard)
        #expect(strong.needsRehash(weak))
        #expect(!hasher.needsRehash(weak))
        #expect(PasswordHasher(parameters: .init(logN: 10, r: 8, p: 2)).needsRehash(weak))
        #expect(!hasher.needsRehash(PasswordHasher(parameters: .init(logN: 11, r: 8, p: 1)).hash("pw")))
        #expect(hasher.needsRehash("garbage"))
        #expect(PasswordHasher.Parameters.standard == .init(logN: 15, r: 8, p: 1))
    }
}
