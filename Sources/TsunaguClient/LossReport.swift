/// The verdict over all subscribers.
public struct LossReport: Sendable, Equatable {
    public var missing = 0
    public var duplicates = 0
    public var outOfOrder = 0
    /// Subscriptions checked.
    public var subscriptions = 0
    public var passed: Bool { missing == 0 && duplicates == 0 && outOfOrder == 0 }

    public init(missing: Int = 0, duplicates: Int = 0, outOfOrder: Int = 0, subscriptions: Int = 0) {
        self.missing = missing
        self.duplicates = duplicates
        self.outOfOrder = outOfOrder
        self.subscriptions = subscriptions
    }

    public static func + (a: LossReport, b: LossReport) -> LossReport {
        LossReport(missing: a.missing + b.missing, duplicates: a.duplicates + b.duplicates,
                   outOfOrder: a.outOfOrder + b.outOfOrder, subscriptions: a.subscriptions + b.subscriptions)
    }
}
