import TsunaguCore
import TsunaguStore

/// The mails organization admins receive for notices and incidents. Operator texts and times
/// only: no user's name, address or content.
public enum OperatorNoticeMail {
    public static func change(_ notice: ChangeNotice, time: WireTime) -> OperatorMail {
        OperatorMail(subject: "Tsunagu planned change from \(time.format(millis: notice.startsAtMillis))", body: """
            The operator of your Tsunagu hub announces a planned change.

            Starts: \(time.format(millis: notice.startsAtMillis))
            Ends:   \(time.format(millis: notice.endsAtMillis))

            \(notice.text)

            Every user sees this notice in the app until it ends.
            Notice \(notice.id)
            """)
    }

    public static func incident(_ incident: Incident, time: WireTime) -> OperatorMail {
        OperatorMail(subject: "Tsunagu security incident affecting your organization", body: """
            The operator of your Tsunagu hub notifies you of a security incident that affects your organization.

            Detected: \(time.format(millis: incident.detectedAtMillis))

            \(incident.text)

            Organization admins see this notice in the app (GET /v1/notices) until the incident is closed.
            Incident \(incident.id)
            """)
    }
}
