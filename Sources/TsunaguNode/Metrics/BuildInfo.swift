import Foundation

/// What build is running: shown by `tsunagu_build_info` and `GET /v1/admin/deployment`.
public struct BuildInfo: Sendable, Equatable {
    public var version: String
    public var commit: String

    public init(version: String, commit: String) {
        self.version = version
        self.commit = commit
    }

    /// The release this source tree is. The `tsunagu` executable sets the commit baked in at build
    /// time (Plugins/BuildInfoPlugin); `TSUNAGU_BUILD_COMMIT` stands in for embedders without it.
    public static let version = "0.9.0"

    public static var current: BuildInfo {
        let commit = ProcessInfo.processInfo.environment["TSUNAGU_BUILD_COMMIT"].flatMap { $0.isEmpty ? nil : $0 }
        return BuildInfo(version: version, commit: commit ?? "unknown")
    }
}
