import ArgumentParser

@main
struct DICOMTap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dicomtap",
        abstract: "See and control DICOM network traffic: dump, analyze, proxy, replay, query.",
        version: "0.1.0",
        subcommands: [Analyze.self, DemoCommand.self, Dump.self, MappingCommand.self, Proxy.self, Pseudonym.self, Query.self, Replay.self, Serve.self]
    )
}
