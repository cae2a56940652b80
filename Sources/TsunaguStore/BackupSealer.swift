import Foundation
import TsunaguCrypto

/// Seals a backup as a stream (docs/storage.md, "Backups"), so that neither the sealer nor the
/// opener ever holds the whole store in memory, and truncation or reordering is detected:
///
///     "TSUNAGU-BACKUP-2" || u32 header length || header (JSON: chunk size, audit anchor)
///     then per chunk: u8 final flag || u32 sealed length || AESGCM.seal(chunk, aad)
///     aad = "TSUNAGU-BACKUP-2" || u32 header length || header || u64 chunk index || u8 final flag
///
/// Every chunk has its own random nonce (inside `AESGCM.seal`); its index and whether it is the
/// last one are authenticated, so a moved, dropped, duplicated or cut-off chunk fails to open, and a
/// file that ends before a chunk marked final is refused as truncated. The header (with the audit
/// anchor) is authenticated by every chunk. Where the plaintext comes from is not the sealer's
/// business: `SQLiteSnapshot` gives one source; any readable `FileHandle` does.
public enum BackupSealer {
    public static let magic = Array("TSUNAGU-BACKUP-2".utf8)
    public static let defaultChunkBytes = 1 << 20

    public struct Header: Codable, Sendable, Equatable {
        public var chunkBytes: Int
        public var createdMillis: Int64
        /// The audit chain's anchor when the backup was taken (docs/security.md, "Audit log").
        public var auditAnchor: AuditAnchor?
    }

    public enum Failure: Error, Equatable {
        case notThisFormat
        /// The first chunk does not open: another key, or the file was altered.
        case firstChunkRefused
        /// A later chunk does not open where it stands: altered, moved or from another backup.
        case chunkRefused(index: UInt64)
        /// The file ends before its last chunk.
        case truncated(afterChunks: UInt64)
        /// Bytes follow the last chunk.
        case trailingBytes
    }

    /// Reads `source` to its end and writes the sealed stream to `destination`.
    public static func seal(from source: FileHandle, to destination: FileHandle, key: SymmetricKey, header: Header) throws {
        let headerBytes = [UInt8](try encodedHeader(header))
        try destination.write(contentsOf: magic + bigEndian(UInt32(headerBytes.count)) + headerBytes)
        var index: UInt64 = 0
        var current = try source.read(upToCount: header.chunkBytes) ?? Data()
        while true {
            // Read one ahead: the chunk is final when nothing follows it (an empty source gives one
            // empty final chunk).
            let next = current.isEmpty ? Data() : (try source.read(upToCount: header.chunkBytes) ?? Data())
            let final: UInt8 = next.isEmpty ? 1 : 0
            let sealed = AESGCM.seal([UInt8](current), key: key,
                                     associatedData: associatedData(headerBytes, index: index, final: final))
            try destination.write(contentsOf: [final] + bigEndian(UInt32(sealed.count)) + sealed)
            if final == 1 { return }
            current = next
            index += 1
        }
    }

    /// The header of a sealed stream (not yet authenticated: `open` authenticates it with the first
    /// chunk). Throws `notThisFormat` for anything else.
    public static func readHeader(_ source: FileHandle) throws -> (header: Header, bytes: [UInt8]) {
        guard let start = try source.read(upToCount: magic.count + 4), start.count == magic.count + 4,
              Array(start.prefix(magic.count)) == magic else { throw Failure.notThisFormat }
        let length = Int(UInt32(bigEndianBytes: Array(start.suffix(4))))
        guard length <= 1 << 20, let bytes = try source.read(upToCount: length), bytes.count == length,
              let header = try? JSONDecoder().decode(Header.self, from: bytes) else { throw Failure.notThisFormat }
        return (header, [UInt8](bytes))
    }

    /// Opens the sealed stream in `source` into `destination`, chunk by chunk. On a throw,
    /// `destination` holds a prefix of the plaintext: the caller discards it.
    public static func open(from source: FileHandle, to destination: FileHandle, key: SymmetricKey) throws -> Header {
        let (header, headerBytes) = try readHeader(source)
        var index: UInt64 = 0
        while true {
            guard let frame = try source.read(upToCount: 5), frame.count == 5, frame[frame.startIndex] <= 1 else {
                throw Failure.truncated(afterChunks: index)
            }
            let final = frame[frame.startIndex]
            let length = Int(UInt32(bigEndianBytes: Array(frame.suffix(4))))
            guard length <= header.chunkBytes + 64, let sealed = try source.read(upToCount: length), sealed.count == length else {
                throw Failure.truncated(afterChunks: index)
            }
            let plaintext: [UInt8]
            do {
                plaintext = try AESGCM.open([UInt8](sealed), key: key,
                                            associatedData: associatedData(headerBytes, index: index, final: final))
            } catch {
                throw index == 0 ? Failure.firstChunkRefused : Failure.chunkRefused(index: index)
            }
            try destination.write(contentsOf: plaintext)
            if final == 1 {
                guard (try source.read(upToCount: 1) ?? Data()).isEmpty else { throw Failure.trailingBytes }
                return header
            }
            index += 1
        }
    }

    static func encodedHeader(_ header: Header) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(header)
    }

    private static func associatedData(_ header: [UInt8], index: UInt64, final: UInt8) -> [UInt8] {
        magic + bigEndian(UInt32(header.count)) + header + bigEndian(index) + [final]
    }

    private static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}

extension UInt32 {
    init(bigEndianBytes bytes: [UInt8]) {
        self = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
