import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Delivers by writing `<id>.eml` into a directory: the transport when no `--smtp-url` is given
/// (default `./tsunagu-data/outbox/`), for development and for sites whose mail is picked up
/// from disk.
///
/// Each file appears whole or not at all: it is written to a hidden temporary file, synced, then
/// renamed (atomic within one file system, POSIX `rename(2)`), so a reader never sees half a
/// message. Files are mode 0600 and the directory 0700 when created: activation links are
/// credentials. A retry of the same id replaces the file rather than adding a second one.
public struct DirectoryTransport: MailTransport {
    /// The directory the files go into.
    public let directory: String

    /// - Parameter directory: created (with parents) on first delivery if missing.
    public init(directory: String) {
        self.directory = directory
    }

    public func deliver(_ message: MailMessage) async throws {
        guard MailMessage.isValidID(message.id) else {
            throw SMTPError.invalidMessage("message id is not usable as a file name")
        }
        try MailAddress.validate(message.from, field: "sender")
        try MailAddress.validate(message.to, field: "recipient")
        let rendered = MailRenderer.render(message, date: Date(), timeZone: .japanStandardTime)
        try self.ensureDirectory()
        // Blocking file I/O is acceptable here: this transport serves development and low-volume
        // sites, and the worker delivers one message at a time off the event loops.
        try self.writeAtomically(Array(rendered.utf8), name: "\(message.id).eml")
    }

    /// Removes the messages written before `cutoff` (and temporary files a crash left), answering
    /// how many messages went. Here the files are the delivery itself, so they cannot be deleted
    /// on delivery; but once their links have expired they carry only names and addresses, so the
    /// node removes them then (docs/security.md, "Plaintext outside the store").
    @discardableResult
    public func purge(writtenBefore cutoff: Date) throws -> Int {
        let files = FileManager.default
        guard files.fileExists(atPath: directory) else { return 0 }
        var removed = 0
        for name in try files.contentsOfDirectory(atPath: directory)
        where name.hasSuffix(".eml") || (name.hasPrefix(".") && name.hasSuffix(".tmp")) {
            let path = "\(directory)/\(name)"
            guard let written = (try? files.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                  written < cutoff else { continue }
            if unlink(path) == 0, name.hasSuffix(".eml") { removed += 1 }
        }
        return removed
    }

    private func ensureDirectory() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: self.directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw SMTPError.io("outbox path is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw SMTPError.io("cannot create outbox directory (\(error.localizedDescription))")
        }
    }

    private func writeAtomically(_ bytes: [UInt8], name: String) throws {
        let finalPath = "\(self.directory)/\(name)"
        let tempPath = "\(self.directory)/.\(name).\(UInt64.random(in: 0...UInt64.max)).tmp"
        // O_EXCL: never write through a file (or symlink) someone else put at the temporary name.
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SMTPError.io("cannot create mail file (\(Self.describe(errno)))") }
        var renamed = false
        defer {
            if !renamed { unlink(tempPath) }
        }
        do {
            defer { close(fd) }
            // The umask can only remove bits, but be explicit: the file must not be group-readable.
            guard fchmod(fd, 0o600) == 0 else { throw SMTPError.io("cannot set mail file mode (\(Self.describe(errno)))") }
            var written = 0
            while written < bytes.count {
                let result = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw SMTPError.io("cannot write mail file (\(Self.describe(errno)))")
                }
                written += result
            }
            // Without fsync a crash after the rename could leave an empty file under the final name.
            guard fsync(fd) == 0 else { throw SMTPError.io("cannot sync mail file (\(Self.describe(errno)))") }
        }
        guard rename(tempPath, finalPath) == 0 else {
            throw SMTPError.io("cannot rename mail file into place (\(Self.describe(errno)))")
        }
        renamed = true
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
