import Logging
import Synchronization
import TsunaguCore
import TsunaguStore

/// Runs the monitor rules on what this node sees (docs/operations.md, "Monitors"). Recording is
/// a lock and a dictionary update, no store access and no await, so it can sit on the login,
/// subscribe, invite and post paths; only a rule that fires starts a task that records the alert,
/// mails the organization's admins (one transaction, through the outbox) and counts it in
/// `tsunagu_monitor_alerts_total{rule}`.
///
/// Each node counts what passes through it: behind the round-robin balancer a pattern spread
/// over N nodes reaches a threshold about N times later. Thresholds are set per node.
final class AbuseMonitor: Sendable {
    private let windows: Mutex<MonitorWindows>
    private let thresholds: MonitorThresholds
    private let store: HubStore
    private let metrics: NodeMetrics
    private let time: WireTime
    private let logger: Logger

    init(thresholds: MonitorThresholds, store: HubStore, metrics: NodeMetrics, time: WireTime, logger: Logger) {
        self.windows = Mutex(MonitorWindows(thresholds: thresholds))
        self.thresholds = thresholds
        self.store = store
        self.metrics = metrics
        self.time = time
        self.logger = logger
        metrics.prepareMonitorRules(MonitorRule.allCases.map(\.rawValue))
    }

    /// A failed login for an account of `organization` (failures for unknown addresses belong
    /// to no organization and are left to the login throttle).
    func loginFailed(organization: OrganizationID) {
        observe(.loginFailures, key: organization.rawValue, organization: organization, subject: nil)
    }

    /// `user` opened a timeline's content: a subscription or a history page.
    func timelineRead(by user: UserRecord, timeline: TimelineID) {
        observe(.patientReads, key: user.id.rawValue, item: timeline.rawValue, organization: user.organization,
                subject: user.id)
    }

    /// `user` invited someone: a new user of the organization, or a member into a timeline.
    func invitationSent(by user: UserRecord) {
        observe(.invitations, key: user.id.rawValue, organization: user.organization, subject: user.id)
    }

    /// `user` posted into `timeline`.
    func posted(by user: UserRecord, timeline: TimelineID) {
        observe(.fanOut, key: user.id.rawValue, item: timeline.rawValue, organization: user.organization,
                subject: user.id)
    }

    private func observe(_ rule: MonitorRule, key: String, item: String? = nil, organization: OrganizationID,
                         subject: UserID?) {
        let now = WireTime.nowMillis()
        guard let trigger = windows.withLock({ $0.observe(rule, key: key, item: item, at: now) }) else { return }
        Task { await self.raise(trigger, organization: organization, subject: subject, at: now) }
    }

    private func raise(_ trigger: MonitorWindows.Trigger, organization: OrganizationID, subject: UserID?,
                       at now: Int64) async {
        let threshold = thresholds[trigger.rule]
        var observed = trigger.observed
        do {
            if trigger.rule == .patientReads {
                observed = try await store.patientTimelines(among: trigger.items.map { TimelineID(unchecked: $0) }).count
                guard observed >= threshold.count else {
                    windows.withLock { $0.unconfirmed(trigger) }
                    return
                }
            }
            let alert = MonitorAlert(organization: organization, rule: trigger.rule.rawValue, subject: subject,
                                     atMillis: now, observed: observed, threshold: threshold.count,
                                     windowMillis: threshold.windowMillis)
            try await store.raiseAlert(alert, mail: mail(for: alert, rule: trigger.rule, threshold: threshold))
            metrics.monitorAlert(trigger.rule.rawValue)
            logger.warning("monitor alert", metadata: [
                "tsunagu.rule": "\(trigger.rule.rawValue)", "tsunagu.organization": "\(organization.rawValue)",
                "tsunagu.observed": "\(observed)", "tsunagu.alert": "\(alert.id)",
            ])
        } catch {
            logger.error("monitor alert not recorded", metadata: [
                "tsunagu.rule": "\(trigger.rule.rawValue)", "tsunagu.error": "\(error)",
            ])
        }
    }

    static func duration(_ seconds: Int) -> String {
        if seconds % 3600 == 0 { return seconds == 3600 ? "1 hour" : "\(seconds / 3600) hours" }
        if seconds % 60 == 0 { return seconds == 60 ? "1 minute" : "\(seconds / 60) minutes" }
        return "\(seconds) seconds"
    }

    /// Counts and ids only: no names, addresses or contents in the mail.
    private func mail(for alert: MonitorAlert, rule: MonitorRule, threshold: MonitorThreshold) -> OperatorMail {
        var body = """
            A Tsunagu monitor flagged activity in your organization that may mean misuse of an account or a leak.

            Rule: \(rule.rawValue)
            Observed: \(alert.observed) \(rule.summary) within \(Self.duration(threshold.windowSeconds)) (threshold \(threshold.count)).
            At: \(time.format(millis: alert.atMillis))

            """
        if let subject = alert.subject { body += "Account: \(subject.rawValue)\n" }
        body += """

            Review it in the admin API (GET /v1/admin/alerts, GET /v1/admin/audit) and, if the activity
            was not expected, disable the account (PATCH /v1/admin/users/{id}).

            Alert \(alert.id)
            """
        return OperatorMail(subject: "Tsunagu monitor alert: \(rule.summary)", body: body)
    }
}
