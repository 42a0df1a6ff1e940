import ArgumentParser
import DICOMInspect

/// The bounds on what one association may make `proxy` and `analyze` hold or report, shared by both.
struct LimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Values at least this long are not kept: dumps show them by length, the proxy passes them "
                               + "through as they arrive.", valueName: "bytes"))
    var bulkThreshold: Int = 1 << 16

    @Option(help: ArgumentHelp("A deflated data set that inflates past this is not decoded (a finding; with rewriting, the "
                               + "association is aborted).", valueName: "bytes"))
    var maxInflatedSize: Int = 1 << 30

    @Option(help: ArgumentHelp("Findings kept per association; past it they are counted in one findings-truncated finding.",
                               valueName: "count"))
    var maxFindings: Int = 1000

    @Option(help: ArgumentHelp("Requests open at once per association; one more is reported (too-many-open-requests) and "
                               + "not followed.", valueName: "count"))
    var maxOpenRequests: Int = 4096

    @Option(help: ArgumentHelp("Responses kept per open exchange (the first ones and the latest); past it they are relayed "
                               + "and counted, not kept, with one responses-truncated finding per exchange.",
                               valueName: "count"))
    var maxKeptResponses: Int = 1000

    func validate() throws {
        for (name, value, least) in [("--bulk-threshold", bulkThreshold, 16), ("--max-inflated-size", maxInflatedSize, 1),
                                     ("--max-findings", maxFindings, 1), ("--max-open-requests", maxOpenRequests, 1),
                                     ("--max-kept-responses", maxKeptResponses, 1)]
        where value < least {
            throw ValidationError("\(name) must be at least \(least), not \(value)")
        }
    }

    /// `configuration` with these limits.
    func applied(to configuration: AssociationObserver.Configuration) -> AssociationObserver.Configuration {
        var c = configuration
        c.bulkThreshold = bulkThreshold
        c.decodingOptions.maxInflatedSize = maxInflatedSize
        c.maximumFindings = maxFindings
        c.maximumOpenRequests = maxOpenRequests
        c.maximumKeptResponses = maxKeptResponses
        return c
    }
}
