import Foundation

/// Where the store's data is kept, as the operator declares it (`--data-location`): a country
/// (ISO 3166-1 alpha-2, e.g. `JP`) and optionally a region within it, written `JP` or
/// `JP/Tokyo`. Shown to organization admins at `GET /v1/admin/deployment`: care organizations
/// must be able to say where their records are.
public struct DataLocation: Sendable, Equatable, CustomStringConvertible {
    public var country: String
    public var region: String?

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let country = String(parts[0])
        guard country.count == 2, country.allSatisfy({ $0.isASCII && $0.isUppercase }) else { return nil }
        self.country = country
        if parts.count == 2 {
            let region = parts[1].trimmingCharacters(in: .whitespaces)
            guard (1...64).contains(region.count),
                  region.unicodeScalars.allSatisfy({ !$0.properties.generalCategory.isControl })
            else { return nil }
            self.region = region
        }
    }

    public var description: String { region.map { "\(country)/\($0)" } ?? country }

    /// What an error says the format is.
    public static let format = "a country code, optionally with a region: JP or JP/Tokyo"
}

private extension Unicode.GeneralCategory {
    var isControl: Bool { self == .control || self == .format || self == .lineSeparator || self == .paragraphSeparator }
}
