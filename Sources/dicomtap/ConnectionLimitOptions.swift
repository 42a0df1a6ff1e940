import ArgumentParser
import DICOMNetwork
import DICOMProxy

/// `--max-associations`, `--artim-timeout` and `--min-max-pdu`: what `proxy` does at its limits.
struct ConnectionLimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Associations relayed at once (default: as many as the open file limit allows, said at start). At the limit, "
            + "the oldest connection that has not sent its A-ASSOCIATE-RQ is closed to make room; when all hold "
            + "associations, a new one gets A-ASSOCIATE-RJ 2/3/2 (local-limit-exceeded).",
        valueName: "count"))
    var maxAssociations: Int?

    @Option(help: ArgumentHelp("Close a connection that has sent no complete A-ASSOCIATE-RQ within this many seconds "
                               + "(ARTIM, PS3.8 9.1.5).", valueName: "seconds"))
    var artimTimeout: Double = 30

    @Option(name: .customLong("min-max-pdu"),
            help: ArgumentHelp("With rewriting: refuse an SCU whose maximum PDU length is below this (A-ASSOCIATE-RJ 1/1/1), "
                               + "and end an association whose SCP's is (0: no minimum; below 8 is always refused). "
                               + "Without rewriting the PDUs pass as the peers made them.", valueName: "bytes"))
    var minMaxPDU: Int = 4096

    /// Open files kept for the listeners, events.jsonl, the mapping store, the metrics endpoint and the
    /// connections past the limit, when the limit is sized from the open file limit.
    static let spareFiles: UInt64 = 64

    /// `--max-associations` from 1 to 10,000,000 (each takes file descriptors).
    static func check(_ maxAssociations: Int?) throws {
        if let maxAssociations, !(1...10_000_000).contains(maxAssociations) {
            throw ValidationError("--max-associations must be from 1 to 10000000, not \(maxAssociations)")
        }
    }

    func validate() throws {
        try Self.check(maxAssociations)
        guard artimTimeout.isFinite, artimTimeout > 0, artimTimeout <= 86_400 else {
            throw ValidationError("--artim-timeout must be a number of seconds above 0 (and at most a day), not \(artimTimeout)")
        }
        guard minMaxPDU == 0 || (8...Int(UInt32.max)).contains(minMaxPDU) else {
            throw ValidationError("--min-max-pdu must be 0 (no minimum) or a number of bytes from 8, not \(minMaxPDU)")
        }
    }

    /// Raises the open file limit to the hard one and sets the limits in `configuration`; returns what to say at
    /// start (the file limit, the association limit and where it comes from).
    func apply(to configuration: inout ProxyConfiguration) -> [String] {
        configuration.artimTimeout = .milliseconds(Int64((artimTimeout * 1000).rounded()))
        configuration.minimumMaximumPDULength = UInt32(minMaxPDU)
        // Each association: the SCU's and the SCP's connections, its text log and its recording.
        var files: [String] = ["2 connections"]
        if configuration.logDirectory != nil { files.append("its text log") }
        if configuration.recordDirectory != nil { files.append("its recording") }
        let sized = Self.sized(maxAssociations, perAssociation: UInt64(2 + files.count - 1), files: files.joined(separator: ", "))
        configuration.maxAssociations = sized.limit
        return sized.lines
    }

    /// Raises the open file limit to the hard one, and sizes the association limit from it when none is `given`:
    /// the limit and what to say at start.
    static func sized(_ given: Int?, perAssociation: UInt64, files: String) -> (limit: Int?, lines: [String]) {
        var lines: [String] = []
        if let change = FileLimit.raiseToHardLimit() { lines.append("\(change)") }
        let fileLimit = FileLimit.current
        let filesText = "\(perAssociation) open file\(perAssociation == 1 ? "" : "s") each (\(files))"
        if let maxAssociations = given {
            var line = "at most \(maxAssociations) association\(maxAssociations == 1 ? "" : "s") at once (--max-associations)"
            if let fileLimit, UInt64(maxAssociations) * perAssociation + Self.spareFiles > fileLimit {
                let fits = fileLimit > Self.spareFiles ? (fileLimit - Self.spareFiles) / perAssociation : 0
                line += "; WARNING: that needs about \(UInt64(maxAssociations) * perAssociation + Self.spareFiles) open files, "
                    + "the limit is \(fileLimit): past about \(fits) associations new connections may fail (raise the hard "
                    + "limit, e.g. LimitNOFILE= in the systemd unit or ulimit -n)"
            }
            lines.append(line)
            return (maxAssociations, lines)
        } else if let fileLimit, fileLimit != UInt64.max {
            let fits = fileLimit > Self.spareFiles + perAssociation ? (fileLimit - Self.spareFiles) / perAssociation : 1
            let limit = Int(min(fits, 1_000_000))
            lines.append("at most \(limit) associations at once: open file limit \(fileLimit), \(filesText), "
                         + "\(Self.spareFiles) spare (--max-associations to change)")
            return (limit, lines)
        } else {
            lines.append("no limit on associations at once (no open file limit; --max-associations to set one)")
            return (nil, lines)
        }
    }
}
