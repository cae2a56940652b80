import ArgumentParser
import Foundation

/// Every path flag is resolved the same way, once, while the flags are validated: `~` and `~/…`
/// from the home directory, anything relative from the working directory, then `.` and `..`
/// removed. Every later step then sees an absolute path, so a bare one-letter file name has a
/// parent directory like any other (Foundation's path handling traps on some relative forms),
/// and files derived from a path (logs, outbox, backups beside the store) land beside it, never
/// at the filesystem root.
enum PathArgument {
    /// The absolute path `raw` names; a usage error (exit 2) naming `flag` when it cannot be one.
    static func resolve(_ raw: String, flag: String) throws -> String {
        guard !raw.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("\(flag): empty path") }
        guard !raw.contains("\0"), !raw.contains("\n") else { throw ValidationError("\(flag): not a usable path") }
        var path = raw
        if path == "~" || path.hasPrefix("~/") {
            path = homeDirectory + path.dropFirst()
        } else if path.hasPrefix("~") {
            throw ValidationError("\(flag): '~user' paths are not supported; give the full path")
        }
        if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
        let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
        guard standardized.utf8.count < Int(PATH_MAX) else { throw ValidationError("\(flag): path too long") }
        return standardized
    }

    /// The directory holding `path` (an absolute path from `resolve`).
    static func directory(of path: String) -> String {
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return parent.isEmpty ? "/" : parent
    }

    /// `resolve`, then the file must exist and be a readable regular file.
    static func existingFile(_ raw: String, flag: String) throws -> String {
        let path = try resolve(raw, flag: flag)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("\(flag): no such file: \(path)")
        }
        guard !isDirectory.boolValue else { throw ValidationError("\(flag): \(path) is a directory, not a file") }
        guard FileManager.default.isReadableFile(atPath: path) else { throw ValidationError("\(flag): cannot read \(path)") }
        return path
    }

    /// `resolve`, then the path must not be an existing file (it names a directory, made when missing).
    static func directoryPath(_ raw: String, flag: String) throws -> String {
        let path = try resolve(raw, flag: flag)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ValidationError("\(flag): \(path) is a file, not a directory")
        }
        return path
    }

    private static var homeDirectory: String {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home.hasSuffix("/") && home.count > 1 ? String(home.dropLast()) : home
    }
}

/// One line for an error from a library: Foundation's errors as their sentence (never the
/// `NSCocoaErrorDomain` dump), anything else as it describes itself, with line breaks folded.
func oneLine(_ error: any Error) -> String {
    let text: String
    if let error = error as? CLIError {
        text = error.message
    } else if let error = error as? CocoaError {
        var sentence = error.localizedDescription
        if let path = error.filePath, !sentence.contains(path) { sentence += " (\(path))" }
        text = sentence
    } else if let error = error as? POSIXError {
        text = error.localizedDescription
    } else if type(of: error) is NSError.Type {
        text = (error as NSError).localizedDescription
    } else {
        text = String(describing: error)
    }
    return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
}
