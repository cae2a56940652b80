import Foundation
import Logging

enum LoggingSetup {
    /// Logs go to standard error with timestamps in the deployment's zone (JST by default): the
    /// stream handler formats local time, so the process's zone is set to it.
    static func bootstrap(timeZone: String = "Asia/Tokyo") {
        setenv("TZ", timeZone, 1)
        tzset()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["TSUNAGU_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
            return handler
        }
    }
}
