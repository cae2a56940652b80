import Testing
@testable import TsunaguCrypto

@Suite struct FieldCipherTests {
    let oldKey = SymmetricKey.random()
    let newKey = SymmetricKey.random()

    @Test func roundTrip() throws {
        let cipher = try FieldCipher(currentKeyID: "k1", keys: ["k1": oldKey])
        #expect(cipher.currentKeyID == "k1")
        let sealed = cipher.seal("alice@example.com", table: "users", column: "email", row: "42")
        #expect(sealed[0] == 0x01 && sealed[1] == 2 && Array(sealed[2..<4]) == Array("k1".utf8))
        #expect(sealed.count == 4 + 12 + 17 + 16)
        #expect(try cipher.openString(sealed, table: "users", column: "email", row: "42") == "alice@example.com")
        let bytes: [UInt8] = [0, 1, 2, 255]
        #expect(try cipher.open(cipher.seal(bytes, table: "t", column: "c", row: "r"), table: "t", column: "c", row: "r") == bytes)
        #expect(try cipher.openString(cipher.seal("", table: "t", column: "c", row: "r"), table: "t", column: "c", row: "r") == "")
    }

    @Test func blobIsBoundToItsCell() throws {
        let cipher = try FieldCipher(currentKeyID: "k1", keys: ["k1": oldKey])
        let sealed = cipher.seal("secret", table: "users", column: "email", row: "a")
        for (table, column, row) in [("users", "email", "b"), ("users", "name", "a"), ("peers", "email", "a"),
                                     ("users/email", "", "a"), ("users", "email/a", "")] {
            #expect(throws: CryptoError.authenticationFailed, "\(table)/\(column)/\(row)") {
                try cipher.open(sealed, table: table, column: column, row: row)
            }
        }
    }

    @Test func editedKeyIDFails() throws {
        // Both ids are held, so the edit can only be caught by the authenticated key id.
        let cipher = try FieldCipher(currentKeyID: "k1", keys: ["k1": oldKey, "k2": oldKey])
        var sealed = cipher.seal("secret", table: "t", column: "c", row: "r")
        sealed[3] = UInt8(ascii: "2")
        #expect(throws: CryptoError.authenticationFailed) { try cipher.open(sealed, table: "t", column: "c", row: "r") }
        sealed[3] = UInt8(ascii: "9")
        #expect(throws: CryptoError.unknownKey(id: "k9")) { try cipher.open(sealed, table: "t", column: "c", row: "r") }
        sealed[1] = 1  // length byte edited
        #expect(throws: CryptoError.self) { try cipher.open(sealed, table: "t", column: "c", row: "r") }
    }

    @Test func rotationKeepsOldBlobsReadable() throws {
        let before = try FieldCipher(currentKeyID: "2024", keys: ["2024": oldKey])
        let oldBlob = before.seal("old value", table: "t", column: "c", row: "1")
        let after = try FieldCipher(currentKeyID: "2025", keys: ["2024": oldKey, "2025": newKey])
        #expect(try after.openString(oldBlob, table: "t", column: "c", row: "1") == "old value")
        let newBlob = after.seal("new value", table: "t", column: "c", row: "1")
        #expect(Array(newBlob[2..<6]) == Array("2025".utf8))
        #expect(throws: CryptoError.unknownKey(id: "2025")) { try before.open(newBlob, table: "t", column: "c", row: "1") }
    }

    @Test func unknownKeyAndBadConfiguration() throws {
        let sealer = try FieldCipher(currentKeyID: "gone", keys: ["gone": oldKey])
        let opener = try FieldCipher(currentKeyID: "here", keys: ["here": newKey])
        let sealed = sealer.seal("x", table: "t", column: "c", row: "r")
        #expect(throws: CryptoError.unknownKey(id: "gone")) { try opener.open(sealed, table: "t", column: "c", row: "r") }
        #expect(throws: CryptoError.self) { try FieldCipher(currentKeyID: "a", keys: ["b": oldKey]) }
        #expect(throws: CryptoError.self) { try FieldCipher(currentKeyID: "", keys: ["": oldKey]) }
        #expect(throws: CryptoError.self) {
            try FieldCipher(currentKeyID: "a", keys: ["a": oldKey, String(repeating: "x", count: 256): newKey])
        }
    }

    @Test func malformedBlobs() throws {
        let cipher = try FieldCipher(currentKeyID: "k1", keys: ["k1": oldKey])
        let sealed = cipher.seal("x", table: "t", column: "c", row: "r")
        let blobs: [[UInt8]] = [[], [0x01], [0x02] + sealed.dropFirst(), [0x01, 0x00] + sealed.dropFirst(4),
                                Array(sealed.prefix(4 + 12 + 15)), [0x01, 0x02, 0xff, 0xfe] + sealed.dropFirst(4)]
        for blob in blobs {
            #expect(throws: CryptoError.malformedCiphertext) { try cipher.open(blob, table: "t", column: "c", row: "r") }
        }
    }

    @Test func openStringRejectsInvalidUTF8() throws {
        let cipher = try FieldCipher(currentKeyID: "k1", keys: ["k1": oldKey])
        let sealed = cipher.seal([0xff, 0xfe], table: "t", column: "c", row: "r")
        #expect(throws: CryptoError.malformedCiphertext) { try cipher.openString(sealed, table: "t", column: "c", row: "r") }
    }
}
