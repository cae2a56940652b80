import ArgumentParser
import Foundation
import TsunaguNode

/// `tsunagu version` (and `tsunagu --version`): the version, the commit and the day it was
/// built (baked in by Plugins/BuildInfoPlugin), and the configured data location.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version, commit, build date and data location.")

    /// The release this source tree is.
    static let number = "0.9.0"

    @Option(help: ArgumentHelp("Where the store's data lives, as region and country (e.g. \"JP/Tokyo\"); shown here and at GET /v1/admin/deployment.",
                               valueName: "location"))
    var dataLocation: String?

    func validate() throws {
        // The same format as the nodes' --data-location (OperationsOptions).
        if let dataLocation, DataLocation(dataLocation) == nil {
            throw ValidationError("--data-location: '\(dataLocation)' is not \(DataLocation.format)")
        }
    }

    func run() throws {
        print("tsunagu \(Self.number)")
        print("commit: \(BuildInfo.commit)")
        print("built: \(BuildInfo.buildDate)")
        print("data location: \(dataLocation ?? "not configured (--data-location, data_location)")")
    }
}
