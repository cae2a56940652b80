import Testing
@testable import TsunaguCrypto

@Suite struct PrimitivesTests {
    // FIPS 180-2 Appendix B.1.
    @Test func sha256OfABC() {
        #expect(hex(Digest.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256(Array("abc".utf8)) == Digest.sha256("abc"))
        #expect(hex(Digest.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    // RFC 4231 section 4.3, test case 2.
    @Test func hmacSHA256RFC4231Case2() {
        let mac = HMAC.sha256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    // RFC 5869 Appendix A.1, test case 1.
    @Test func hkdfRFC5869Case1() {
        let okm = HKDF.sha256(inputKey: [UInt8](repeating: 0x0b, count: 22), salt: hex("000102030405060708090a0b0c"),
                              info: hex("f0f1f2f3f4f5f6f7f8f9"), outputLength: 42)
        #expect(hex(okm) == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    // RFC 5869 Appendix A.3, test case 3: empty salt and info.
    @Test func hkdfRFC5869Case3EmptySaltAndInfo() {
        let okm = HKDF.sha256(inputKey: [UInt8](repeating: 0x0b, count: 22), salt: [], info: [], outputLength: 42)
        #expect(hex(okm) == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
    }

    @Test func secureRandom() {
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(SecureRandom.bytes(64).count == 64)
        #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
        let token = SecureRandom.token()
        #expect(token.count == 43)
    }

    @Test func symmetricKeyValidationAndRedaction() throws {
        #expect(throws: CryptoError.self) { try SymmetricKey(bytes: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: CryptoError.self) { try SymmetricKey(bytes: []) }
        let bytes = [UInt8](repeating: 0xab, count: 32)
        let key = try SymmetricKey(bytes: bytes)
        #expect(key == (try SymmetricKey(bytes: bytes)))
        #expect(key != SymmetricKey.random())
        var dumped = ""
        dump(key, to: &dumped)
        for text in [key.description, String(reflecting: key), "\(key)", dumped, "\(MasterKey(key: key))"] {
            #expect(!text.contains("ab, ") && !text.contains("171") && !text.lowercased().contains("abab"))
        }
    }
}
