@testable import TsunaguCrypto

/// Hex literals for known-answer vectors. Traps on a typo in the test itself.
func hex(_ text: String) -> [UInt8] {
    guard let bytes = ByteEncoding.bytes(hex: text.filter { !$0.isWhitespace }) else {
        fatalError("bad hex literal in test")
    }
    return bytes
}

func hex(_ bytes: [UInt8]) -> String {
    ByteEncoding.hex(bytes)
}

/// A copy of `bytes` with one bit flipped at `index`.
func flippingBit(_ bytes: [UInt8], at index: Int, bit: UInt8 = 0x01) -> [UInt8] {
    var copy = bytes
    copy[index] ^= bit
    return copy
}
