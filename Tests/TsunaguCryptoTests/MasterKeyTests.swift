import Foundation
import Testing
@testable import TsunaguCrypto

@Suite struct MasterKeyTests {
    /// A fresh scratch directory per test, removed afterwards.
    private func withScratchDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.path + "/tsunagu-crypto-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    private func mode(_ path: String) throws -> mode_t {
        var info = stat()
        try #require(stat(path, &info) == 0)
        return info.st_mode & 0o7777
    }

    @Test func createWritesBase64LineWithMode0600() throws {
        try withScratchDirectory { directory in
            let path = directory + "/nested/keys/master.key"
            let created = try MasterKey.create(at: path)
            let contents = try String(contentsOfFile: path, encoding: .utf8)
            #expect(contents == Data(created.key.bytes).base64EncodedString() + "\n")
            #expect(try mode(path) == 0o600)
            #expect(try mode(directory + "/nested/keys") == 0o700)
            #expect(try mode(directory + "/nested") == 0o700)
            #expect(try MasterKey.load(from: path).key == created.key)
        }
    }

    @Test func createRefusesToOverwrite() throws {
        try withScratchDirectory { directory in
            let path = directory + "/master.key"
            let first = try MasterKey.create(at: path)
            #expect {
                try MasterKey.create(at: path)
            } throws: { error in
                guard case CryptoError.keyFile(let message) = error else { return false }
                return message.contains(path) && message.contains("already exists")
            }
            #expect(try MasterKey.load(from: path).key == first.key)
        }
    }

    @Test func loadErrors() throws {
        try withScratchDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let missing = directory + "/absent.key"
            #expect(throws: CryptoError.keyFile("master key file \(missing) does not exist")) {
                try MasterKey.load(from: missing)
            }
            #expect(throws: CryptoError.keyFile("master key file \(directory) cannot be read")) {
                try MasterKey.load(from: directory)
            }

            let garbage = "not-base64 hunter2-SECRET-CONTENT!"
            let shortKey = Data(repeating: 7, count: 16).base64EncodedString()  // valid base64, 16 bytes
            for contents in [garbage, shortKey + "\n", "", Data(repeating: 1, count: 33).base64EncodedString()] {
                let path = directory + "/bad-\(UUID().uuidString).key"
                try contents.write(toFile: path, atomically: false, encoding: .utf8)
                #expect {
                    try MasterKey.load(from: path)
                } throws: { error in
                    guard case CryptoError.invalidKeyMaterial = error else { return false }
                    let text = "\(error) \(String(reflecting: error))"
                    return contents.isEmpty || !text.contains(contents.trimmingCharacters(in: .newlines))
                }
            }
        }
    }

    @Test func loadAcceptsLineWithoutNewline() throws {
        try withScratchDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let key = SymmetricKey.random()
            let path = directory + "/master.key"
            try Data(key.bytes).base64EncodedString().write(toFile: path, atomically: false, encoding: .utf8)
            #expect(try MasterKey.load(from: path).key == key)
        }
    }

    @Test func derivedKeysAreDeterministicAndPurposeBound() throws {
        let master = MasterKey(key: try SymmetricKey(bytes: [UInt8](repeating: 9, count: 32)))
        let again = MasterKey(key: try SymmetricKey(bytes: [UInt8](repeating: 9, count: 32)))
        #expect(master.derivedKey(purpose: "blind-index") == again.derivedKey(purpose: "blind-index"))
        #expect(master.derivedKey(purpose: "blind-index") != master.derivedKey(purpose: "peer-link"))
        #expect(master.derivedKey(purpose: "blind-index") != master.key)
        let otherMaster = MasterKey(key: SymmetricKey.random())
        #expect(otherMaster.derivedKey(purpose: "blind-index") != master.derivedKey(purpose: "blind-index"))
    }
}
