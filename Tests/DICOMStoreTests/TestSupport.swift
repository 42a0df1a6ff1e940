import DICOMCore
import Foundation
import NIOCore
import Testing
@_exported import DICOMPeerSupport
@testable import DICOMStore

/// Paths in the repository.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let demo = root.appendingPathComponent("demo").path
    static let demoJSON = root.appendingPathComponent("demo/patients.json").path
    static let demoSR = root.appendingPathComponent("demo/sr/astrom-eva-tid9007.dcm").path
}

extension TemporaryDirectory {
    /// Writes `text` to `name` in the directory; returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        let p = file(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
}

/// The python3 that imports pynetdicom and pydicom (`Peers.python`), for inline scripts.
enum Python {
    static var executable: String? { Peers.python }

    /// Runs `python3 -c script args...` without holding a thread while it runs; returns (status, stdout, stderr).
    static func run(_ script: String, _ arguments: [String] = []) async throws -> (Int32, String, String) {
        guard let executable else { throw PythonMissing() }
        let run = try await runProgram(executable, ["-c", script] + arguments)
        return (run.status, run.stdout, run.stderr)
    }

    struct PythonMissing: Error {}
}

// MARK: - Building request identifiers

extension DICOMCore.Tag {
    static func kw(_ keyword: String) -> DICOMCore.Tag {
        guard let entry = DataDictionary.entry(keyword: keyword) else { fatalError("unknown keyword \(keyword)") }
        return entry.tag
    }
}

/// A request identifier as an SCU sends it (the seed's: Patient's Name empty, Patient ID, Content Template Sequence).
func requestIdentifier(patientID: String?, issuer: String? = nil, template: String? = "9007",
                       mappingResource: String? = "DCMR", characterSet: [String]? = nil,
                       extraReturnKeys: [String] = []) -> Dataset {
    var ds = Dataset()
    let set = characterSet.map { SpecificCharacterSet(terms: $0) } ?? .default
    if let characterSet { ds.set(DataElement(tag: .kw("SpecificCharacterSet"), vr: .CS, strings: characterSet)!) }
    ds.set(.empty(.kw("PatientName"), vr: .PN))
    if let patientID { ds.set(DataElement(tag: .kw("PatientID"), vr: .LO, string: patientID, characterSet: set)!) }
    if let issuer { ds.set(DataElement(tag: .kw("IssuerOfPatientID"), vr: .LO, string: issuer, characterSet: set)!) }
    for keyword in extraReturnKeys {
        let entry = DataDictionary.entry(keyword: keyword)!
        ds.set(.empty(entry.tag, vr: entry.vr!))
    }
    if template != nil || mappingResource != nil {
        var item = Dataset()
        if let mappingResource { item.set(DataElement(tag: .kw("MappingResource"), vr: .CS, string: mappingResource)!) }
        if let template { item.set(DataElement(tag: .kw("TemplateIdentifier"), vr: .CS, string: template)!) }
        ds.set(.sequence(.kw("ContentTemplateSequence"), items: [item]))
    }
    ds.set(.empty(.kw("ConceptNameCodeSequence"), vr: .SQ))
    ds.set(.empty(.kw("ContentSequence"), vr: .SQ))
    return ds
}

extension Dataset {
    func string(_ keyword: String) -> String? {
        self[.kw(keyword)]?.string(characterSet: characterSet(inheriting: .default))
    }
    func items(_ keyword: String) -> [Dataset] {
        (self[.kw(keyword)]?.items ?? []).map(\.dataset)
    }
    /// (value, scheme, meaning) of the first item of a code sequence.
    func code(_ keyword: String, charset: SpecificCharacterSet = .default) -> [String]? {
        guard let item = items(keyword).first else { return nil }
        return ["CodeValue", "CodingSchemeDesignator", "CodeMeaning"].map {
            item[.kw($0)]?.string(characterSet: charset) ?? ""
        }
    }
}

/// A store with the demo JSON imported.
func demoStore() throws -> RPIStore {
    let store = try RPIStore.inMemory()
    _ = try store.importPaths([Repository.demoJSON])
    return store
}
