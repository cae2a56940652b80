import Testing
import TsunaguCrypto

@Suite struct BlindIndexTests {
    @Test func normalizesBeforeIndexing() {
        let index = BlindIndex(key: SymmetricKey.random())
        #expect(BlindIndex.normalize(email: " Alice@Example.COM \n") == "alice@example.com")
        #expect(index.index(email: " Alice@Example.COM ") == index.index(email: "alice@example.com"))
        #expect(index.index(email: "alice@example.com").count == 32)
        #expect(index.index(email: "bob@example.com") != index.index(email: "alice@example.com"))
    }

    @Test func keyedIndexes() {
        let a = BlindIndex(key: SymmetricKey.random()), b = BlindIndex(key: SymmetricKey.random())
        #expect(a.index(email: "alice@example.com") != b.index(email: "alice@example.com"))
        // Not a plain hash: the database alone cannot confirm a guessed address.
        #expect(a.index(email: "alice@example.com") != Digest.sha256("alice@example.com"))
    }
}
