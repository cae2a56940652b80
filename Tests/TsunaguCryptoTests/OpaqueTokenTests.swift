import Testing
import TsunaguCrypto

@Suite struct OpaqueTokenTests {
    @Test func tokenShapeAndHash() {
        let (token, hash) = OpaqueToken.generate()
        #expect(token.count == 43)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        #expect(token.allSatisfy { alphabet.contains($0) })
        #expect(hash == Digest.sha256(Array(token.utf8)))
        #expect(OpaqueToken.hash(token) == hash)
        #expect(hash.count == 32)
    }

    @Test func tokensDiffer() {
        #expect(OpaqueToken.generate().token != OpaqueToken.generate().token)
    }
}
