import ArgumentParser
import TsunaguNode

/// Flags of the white paper's operational controls, shared by `serve` and `up`: the store's data
/// location and the monitors' thresholds (docs/operations.md, "Notices, incidents and monitors").
struct OperationsOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Where the store's data is kept: a country code, optionally with a region (JP or JP/Tokyo); shown to organization admins at GET /v1/admin/deployment.",
        valueName: "country[/region]"))
    var dataLocation: String?

    @Option(help: ArgumentHelp("Monitor: failed logins for one organization's accounts (default 30/10m).", valueName: "count/window"))
    var monitorLoginFailures: String?
    @Option(help: ArgumentHelp("Monitor: different patient timelines one account opens (default 40/10m).", valueName: "count/window"))
    var monitorPatientReads: String?
    @Option(help: ArgumentHelp("Monitor: invitations one account sends (default 20/1h).", valueName: "count/window"))
    var monitorInvitations: String?
    @Option(help: ArgumentHelp("Monitor: different timelines one account posts to (default 15/10m).", valueName: "count/window"))
    var monitorFanOut: String?

    private var monitorFlags: [(flag: String, value: String?, rule: MonitorRule)] {
        [("--monitor-login-failures", monitorLoginFailures, .loginFailures),
         ("--monitor-patient-reads", monitorPatientReads, .patientReads),
         ("--monitor-invitations", monitorInvitations, .invitations),
         ("--monitor-fan-out", monitorFanOut, .fanOut)]
    }

    func validate() throws {
        if let dataLocation, DataLocation(dataLocation) == nil {
            throw ValidationError("--data-location: '\(dataLocation)' is not \(DataLocation.format)")
        }
        for (flag, value, _) in monitorFlags {
            if let value, MonitorThreshold(value) == nil {
                throw ValidationError("\(flag): '\(value)' is not COUNT/WINDOW such as 20/10m (window in s, m or h, at most 7 days)")
            }
        }
    }

    func apply(to configuration: inout NodeConfiguration) {
        // The commit baked in by Plugins/BuildInfoPlugin (this target's own BuildInfo), shown by
        // tsunagu_build_info and GET /v1/admin/deployment as by `tsunagu version`.
        configuration.build = TsunaguNode.BuildInfo(version: Version.number, commit: BuildInfo.commit)
        configuration.dataLocation = dataLocation.flatMap(DataLocation.init)
        for (_, value, rule) in monitorFlags {
            if let threshold = value.flatMap(MonitorThreshold.init) { configuration.monitorThresholds[rule] = threshold }
        }
    }

    /// The same flags for the node processes `up` starts.
    var arguments: [String] {
        var arguments: [String] = []
        if let dataLocation { arguments += ["--data-location", dataLocation] }
        for (flag, value, _) in monitorFlags { if let value { arguments += [flag, value] } }
        return arguments
    }
}
