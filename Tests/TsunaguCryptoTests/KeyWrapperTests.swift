import Testing
@testable import TsunaguCrypto

@Suite struct KeyWrapperTests {
    let master = MasterKey(key: SymmetricKey.random())

    @Test func roundTrip() throws {
        let dataKey = SymmetricKey.random()
        let wrapped = KeyWrapper(master: master).wrap(dataKey, id: "2025-01")
        #expect(wrapped.count == 1 + 12 + 32 + 16)
        #expect(!wrapped.contains(subsequence: dataKey.bytes))
        // A second wrapper over the same master key (e.g. after a restart) unwraps it.
        #expect(try KeyWrapper(master: master).unwrap(wrapped, id: "2025-01") == dataKey)
    }

    @Test func wrongMasterKeyFails() {
        let wrapped = KeyWrapper(master: master).wrap(SymmetricKey.random(), id: "k")
        let other = KeyWrapper(master: MasterKey(key: SymmetricKey.random()))
        #expect(throws: CryptoError.authenticationFailed) { try other.unwrap(wrapped, id: "k") }
    }

    @Test func relabelledKeyFails() {
        let wrapper = KeyWrapper(master: master)
        let wrapped = wrapper.wrap(SymmetricKey.random(), id: "k1")
        #expect(throws: CryptoError.authenticationFailed) { try wrapper.unwrap(wrapped, id: "k2") }
        #expect(throws: CryptoError.malformedCiphertext) { try wrapper.unwrap(Array(wrapped.prefix(20)), id: "k1") }
    }

    @Test func wrappingKeyIsSeparateFromPurposeKeys() {
        // The master key is never used directly for AES, and no purpose label reaches the wrapping subkey.
        let wrapped = KeyWrapper(master: master).wrap(SymmetricKey.random(), id: "k")
        #expect(throws: CryptoError.authenticationFailed) {
            try AESGCM.open(wrapped, key: master.key, associatedData: Array("tsunagu.data-key/v1/k".utf8))
        }
        #expect(master.subkey(info: MasterKey.keyWrappingInfo) != master.derivedKey(purpose: "key-wrapping/v1"))
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0 ..< $0 + needle.count]) == needle }
    }
}
