import Foundation

/// What build is running: shown by `tsunagu_build_info` and `GET /v1/admin/deployment`.
public struct BuildInfo: Sendable, Equatable {
    public var version: String
    public var commit: String

    public init(version: String, commit: String) {
        self.version = version
        self.commit = commit
    }

    /// The release this source tree is. The commit is stamped by packaging through the
    /// environment (`TSUNAGU_BUILD_COMMIT`, e.g. from `git rev-parse --short HEAD`); "unknown"
    /// for a build that was not stamped.
    public static let version = "0.9.0"

    public static var current: BuildInfo {
        let commit = ProcessInfo.processInfo.environment["TSUNAGU_BUILD_COMMIT"].flatMap { $0.isEmpty ? nil : $0 }
        return BuildInfo(version: version, commit: commit ?? "unknown")
    }
}
