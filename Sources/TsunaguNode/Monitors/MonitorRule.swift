/// The monitors' rules: patterns that may mean abuse of an account or a leak
/// (docs/operations.md, "Monitors").
public enum MonitorRule: String, Sendable, CaseIterable {
    /// Failed logins for the accounts of one organization (password guessing against it).
    case loginFailures = "login_failures"
    /// One account opening many different patient timelines (browsing records it has no need for).
    case patientReads = "patient_reads"
    /// One account sending many invitations (user invitations and timeline invitations).
    case invitations = "mass_invitations"
    /// One account posting into many different timelines (content spreading wider than care needs).
    case fanOut = "fan_out"

    /// Whether the rule counts distinct timelines rather than events.
    var countsDistinct: Bool { self == .patientReads || self == .fanOut }

    /// What an admin reads in the alert mail.
    var summary: String {
        switch self {
        case .loginFailures: "failed logins for accounts of your organization"
        case .patientReads: "different patient timelines opened by one account"
        case .invitations: "invitations sent by one account"
        case .fanOut: "different timelines posted to by one account"
        }
    }
}

/// When a rule fires: at least `count` within `windowSeconds`.
public struct MonitorThreshold: Sendable, Equatable {
    public var count: Int
    public var windowSeconds: Int

    public init(count: Int, windowSeconds: Int) {
        self.count = count
        self.windowSeconds = windowSeconds
    }

    var windowMillis: Int64 { Int64(windowSeconds) * 1000 }

    /// `COUNT/WINDOW`, the window in seconds, minutes or hours: `20/10m`, `50/1h`, `5/30s`.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[0]), count >= 1, count <= 1_000_000,
              let unit = parts[1].last, let amount = Int(parts[1].dropLast()), amount >= 1
        else { return nil }
        let seconds: Int
        switch unit {
        case "s": seconds = amount
        case "m": seconds = amount * 60
        case "h": seconds = amount * 3600
        default: return nil
        }
        guard seconds <= 7 * 86400 else { return nil }
        self.init(count: count, windowSeconds: seconds)
    }

    public var text: String {
        if windowSeconds % 3600 == 0 { return "\(count)/\(windowSeconds / 3600)h" }
        if windowSeconds % 60 == 0 { return "\(count)/\(windowSeconds / 60)m" }
        return "\(count)/\(windowSeconds)s"
    }
}

/// The thresholds of every rule (`serve --monitor-… COUNT/WINDOW`).
public struct MonitorThresholds: Sendable, Equatable {
    public var loginFailures = MonitorThreshold(count: 30, windowSeconds: 600)
    public var patientReads = MonitorThreshold(count: 40, windowSeconds: 600)
    public var invitations = MonitorThreshold(count: 20, windowSeconds: 3600)
    public var fanOut = MonitorThreshold(count: 15, windowSeconds: 600)

    public init() {}

    public subscript(rule: MonitorRule) -> MonitorThreshold {
        get {
            switch rule {
            case .loginFailures: loginFailures
            case .patientReads: patientReads
            case .invitations: invitations
            case .fanOut: fanOut
            }
        }
        set {
            switch rule {
            case .loginFailures: loginFailures = newValue
            case .patientReads: patientReads = newValue
            case .invitations: invitations = newValue
            case .fanOut: fanOut = newValue
            }
        }
    }
}
