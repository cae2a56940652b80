import Testing
@testable import TsunaguCrypto

@Suite struct AESGCMTests {
    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test case 16 (also in
    // NIST's GCM validation vectors): AES-256, 96-bit IV, 60-byte plaintext, 20-byte AAD.
    @Test func mcGrewViegaTestCase16() throws {
        let key = hex("feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308")
        let nonce = hex("cafebabefacedbaddecaf888")
        let plaintext = hex("""
            d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72
            1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b39
            """)
        let aad = hex("feedfacedeadbeeffeedfacedeadbeef abaddad2")
        let expectedCiphertext = hex("""
            522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa
            8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662
            """)
        let expectedTag = hex("76fc6ece0f4e1768cddf8853bb2d551b")

        let (ciphertext, tag) = AESGCM.sealRaw(plaintext, key: SymmetricKey(unchecked: key), nonce: nonce, associatedData: aad)
        #expect(ciphertext == expectedCiphertext)
        #expect(tag == expectedTag)
        let opened = try AESGCM.openRaw(ciphertext, tag: tag, key: SymmetricKey(unchecked: key), nonce: nonce, associatedData: aad)
        #expect(opened == plaintext)
    }

    // Test cases 13 and 14: zero key and IV, empty and one-block plaintext, no AAD.
    @Test func mcGrewViegaTestCases13And14() {
        let key = [UInt8](repeating: 0, count: 32), nonce = [UInt8](repeating: 0, count: 12)
        let empty = AESGCM.sealRaw([], key: SymmetricKey(unchecked: key), nonce: nonce, associatedData: [])
        #expect(empty.ciphertext.isEmpty)
        #expect(hex(empty.tag) == "530f8afbc74536b9a963b4f1c4cb738b")
        let block = AESGCM.sealRaw([UInt8](repeating: 0, count: 16), key: SymmetricKey(unchecked: key), nonce: nonce, associatedData: [])
        #expect(hex(block.ciphertext) == "cea7403d4d606b6e074ec5d3baf39d18")
        #expect(hex(block.tag) == "d0d1c8a799996bf0265b98b5d48ab919")
    }

    @Test func roundTripAndFormat() throws {
        let key = SymmetricKey.random()
        let plaintext = Array("attack at dawn".utf8)
        let sealed = AESGCM.seal(plaintext, key: key, associatedData: Array("ctx".utf8))
        #expect(sealed.count == 1 + 12 + plaintext.count + 16)
        #expect(sealed[0] == 0x01)
        #expect(try AESGCM.open(sealed, key: key, associatedData: Array("ctx".utf8)) == plaintext)
        // Fresh nonce per seal: the same input never produces the same blob.
        #expect(AESGCM.seal(plaintext, key: key, associatedData: []) != AESGCM.seal(plaintext, key: key, associatedData: []))
        // Empty plaintext and empty AAD are fine.
        let emptySealed = AESGCM.seal([], key: key, associatedData: [])
        #expect(try AESGCM.open(emptySealed, key: key, associatedData: []) == [])
    }

    @Test func tamperingFailsAuthentication() {
        let key = SymmetricKey.random()
        let aad = Array("users/email/42".utf8)
        let sealed = AESGCM.seal(Array("secret".utf8), key: key, associatedData: aad)
        let tagStart = sealed.count - 16
        let cases: [(String, [UInt8], SymmetricKey, [UInt8])] = [
            ("ciphertext bit", flippingBit(sealed, at: 13), key, aad),
            ("tag bit", flippingBit(sealed, at: tagStart + 3, bit: 0x80), key, aad),
            ("nonce bit", flippingBit(sealed, at: 1), key, aad),
            ("other AAD", sealed, key, Array("users/email/43".utf8)),
            ("empty AAD", sealed, key, []),
            ("wrong key", sealed, SymmetricKey.random(), aad),
        ]
        for (name, blob, k, a) in cases {
            #expect(throws: CryptoError.authenticationFailed, "\(name)") {
                try AESGCM.open(blob, key: k, associatedData: a)
            }
        }
    }

    @Test func malformedInput() {
        let key = SymmetricKey.random()
        let sealed = AESGCM.seal(Array("x".utf8), key: key, associatedData: [])
        for blob in [[], [0x01], Array(sealed.prefix(28)), flippingBit(sealed, at: 0, bit: 0x03)] {
            #expect(throws: CryptoError.malformedCiphertext) {
                try AESGCM.open(blob, key: key, associatedData: [])
            }
        }
    }
}
