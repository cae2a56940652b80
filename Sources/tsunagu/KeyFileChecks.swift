import Foundation

/// The checks a master-key file must pass before it is read (docs/security.md, "Keeping the
/// master key"): only the running user may own and access it, and it should not sit with the
/// data it protects.
enum KeyFileChecks {
    /// Refuses a key file owned by another user, or that group or others may read or write.
    /// A missing file is left to the loader, which says so.
    static func checkOwnershipAndMode(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let user = geteuid()
        if info.st_uid != user {
            throw CLIError("master key file \(path) is owned by uid \(info.st_uid), not by the user running tsunagu (uid \(user)); run: chown \(userName(user)) \(path)")
        }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw CLIError("master key file \(path) is accessible to group or others (mode \(String(mode, radix: 8))); run: chmod 600 \(path)")
        }
    }

    /// A one-line warning when the key file is in the same directory tree as one of
    /// `dataDirectories` (the store's, the backups'): one copy of that tree would then hold both
    /// the encrypted data and the key that opens it. Nil when they are apart.
    static func colocationWarning(keyPath: String, dataDirectories: [(label: String, path: String)]) -> String? {
        let keyDirectory = resolved((keyPath as NSString).deletingLastPathComponent)
        for (label, directory) in dataDirectories {
            let dataDirectory = resolved(directory)
            if within(keyDirectory, dataDirectory) || within(dataDirectory, keyDirectory) {
                return "warning: the master key file \(keyPath) is in the same directory tree as the \(label) (\(directory)): "
                    + "one copy of that tree holds the data and its key; keep the key elsewhere (docs/security.md)"
            }
        }
        return nil
    }

    static func warnIfColocated(keyPath: String, dataDirectories: [(label: String, path: String)]) {
        guard let warning = colocationWarning(keyPath: keyPath, dataDirectories: dataDirectories) else { return }
        FileHandle.standardError.write(Data("tsunagu: \(warning)\n".utf8))
    }

    /// True when `path` is `ancestor` or below it. The root directory is nobody's "tree".
    private static func within(_ path: String, _ ancestor: String) -> Bool {
        ancestor != "/" && (path == ancestor || path.hasPrefix(ancestor + "/"))
    }

    /// The absolute path with symbolic links resolved as far as the path exists (a store
    /// directory may not exist yet).
    private static func resolved(_ path: String) -> String {
        let absolute = path.isEmpty ? FileManager.default.currentDirectoryPath
            : (path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path)
        var existing = (absolute as NSString).standardizingPath
        var rest: [String] = []
        while !FileManager.default.fileExists(atPath: existing), existing != "/" {
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
        }
        let real = (existing as NSString).resolvingSymlinksInPath
        return rest.reduce(real) { ($0 as NSString).appendingPathComponent($1) }
    }

    private static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return String(uid) }
        return String(cString: name)
    }
}
