import NIOCore
import Testing

@testable import TsunaguWebSocket

@Suite("UTF-8 validation (RFC 3629) and keep-alive policy")
struct UTF8ValidatorAndKeepAliveTests {
    @Test(arguments: [
        "", "a", "κόσμε", "\u{10FFFF}", "\u{FEFF}x",
    ])
    func validatorAcceptsValidUTF8(string: String) {
        let bytes = Array(string.utf8)
        #expect(bytes.withUnsafeBytes { UTF8Validator.isValid($0) })
    }

    @Test(arguments: [
        [0x80], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0xAF],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFE], [0xFF], [0xCE],
    ] as [[UInt8]])
    func validatorRejectsInvalidUTF8(bytes: [UInt8]) {
        #expect(!bytes.withUnsafeBytes { UTF8Validator.isValid($0) })
    }

    @Test func validatorCarriesStateAcrossChunks() {
        var validator = UTF8Validator()
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        for byte in euro {
            #expect([byte].withUnsafeBytes { validator.validate($0) })
        }
        #expect(validator.isAtBoundary)
        #expect(([0xF0, 0x9F] as [UInt8]).withUnsafeBytes { validator.validate($0) })
        #expect(!validator.isAtBoundary)
        #expect(!([0x41] as [UInt8]).withUnsafeBytes { validator.validate($0) })  // continuation expected
    }

    @Test func keepAlivePingsAfterSilenceAndGivesUpWithoutAnswer() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var keepAlive = KeepAlive(pingInterval: .seconds(25), pongTimeout: .seconds(60), now: start)
        #expect(keepAlive.tick(at: start + .seconds(10)) == .checkAgain(in: .seconds(15)))
        #expect(keepAlive.tick(at: start + .seconds(25)) == .ping(checkAgainIn: .seconds(25)))
        #expect(keepAlive.tick(at: start + .seconds(50)) == .checkAgain(in: .seconds(35)))
        #expect(keepAlive.tick(at: start + .seconds(85)) == .giveUp)
    }

    @Test func anyInboundFrameCountsAsAnAnswer() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var keepAlive = KeepAlive(pingInterval: .seconds(25), pongTimeout: .seconds(60), now: start)
        #expect(keepAlive.tick(at: start + .seconds(25)) == .ping(checkAgainIn: .seconds(25)))
        keepAlive.frameReceived(at: start + .seconds(30))
        #expect(keepAlive.pingSentAt == nil)
        #expect(keepAlive.tick(at: start + .seconds(50)) == .checkAgain(in: .seconds(5)))
        #expect(keepAlive.tick(at: start + .seconds(55)) == .ping(checkAgainIn: .seconds(25)))
    }
}
