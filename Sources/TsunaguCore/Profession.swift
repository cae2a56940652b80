/// What a person does in the care team (docs/protocol.md §5): shown beside their name in events,
/// in timeline member lists and in 既読 counts ("既読 3 · 医師 1 · 看護師 2"). A closed list, not
/// free text: it is not personal data a person typed, so the store keeps it in a plain column.
public enum Profession: String, Sendable, Codable, CaseIterable {
    case doctor
    case dentist
    case pharmacist
    case nurse
    case therapist
    case careManager = "care_manager"
    case careWorker = "care_worker"
    case family
    case other

    /// The wire names, in the order above, for error messages and documentation.
    public static let wireNames: String = allCases.map(\.rawValue).joined(separator: ", ")
}
