/// Why a load run (or one of its connections) failed, in words for the report.
struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
