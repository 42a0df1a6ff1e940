import ArgumentParser
import DICOMCore
import DICOMRewrite
import Foundation

struct Pseudonym: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the pseudonyms `dicomtap proxy` sends for values, so an archive's data can be prepared with the same key.",
        discussion: """
        One line per VALUE: the pseudonym (HMAC-SHA-256 with the key, Base32, fitted to the VR; UI values become \
        2.25 UIDs). With --rewrite and --attribute, the VR, prefix and length of that attribute's pseudonymize rule \
        are used (and the rules' key-file when --key-file is not given). With --mapping-store, the pseudonyms are also \
        recorded there, so that a proxy using that store maps them back to the originals in what the archive sends.

        EXAMPLES:
          head -c 32 /dev/urandom > pseudonym.key && chmod 600 pseudonym.key
          dicomtap pseudonym --key-file pseudonym.key 1234567
          dicomtap pseudonym --key-file pseudonym.key \\
              --rewrite tools/rewrite-annex-e.yaml --attribute PatientName "Doe^John"
        """)

    @Option(help: ArgumentHelp("The secret key: the file's bytes (at least 32 random bytes; owned by you, mode 0600 or 0400; "
                               + "make one: head -c 32 /dev/urandom > FILE && chmod 600 FILE).", valueName: "file"))
    var keyFile: String?

    @Option(help: ArgumentHelp("Take VR, prefix and length from this attribute's rule in --rewrite, or its VR from the dictionary.",
                               valueName: "attribute"))
    var attribute: String?

    @Option(help: ArgumentHelp("A rules file (as for dicomtap proxy --rewrite).", valueName: "rules.yaml"))
    var rewrite: String?

    @Option(help: ArgumentHelp("The VR the pseudonym must fit (default: the attribute's, else LO).", valueName: "VR"))
    var vr: String?

    @Option(help: ArgumentHelp("Text before the keyed part.", valueName: "text"))
    var prefix: String?

    @Option(help: ArgumentHelp("Characters of the keyed part (16-52, shortened to fit the VR).", valueName: "n"))
    var length: Int?

    @Option(help: ArgumentHelp("Also record pseudonym -> original in this SQLite file or postgresql:// database "
                               + "(the proxy's --mapping-store).", valueName: "file|url"))
    var mappingStore: String?

    @Option(help: ArgumentHelp(MappingStoreOpening.passwordHelp, valueName: "file"))
    var mappingStorePasswordFile: String?

    @Option(help: ArgumentHelp("Patient ID only: the Issuer of Patient ID whose namespace the pseudonym is made in (the data set's "
                               + "(0010,0021), else the calling AE's default-issuers entry in the rules); without it, as for data sets with neither.",
                               valueName: "issuer"))
    var issuer: String?

    @Argument(help: "The original values (e.g. Patient IDs).")
    var values: [String]

    func run() throws {
        if let keyFile { try PathCheck.readableFile(keyFile, "--key-file") }
        if let rewrite { try PathCheck.readableFile(rewrite, "--rewrite") }
        if let mappingStore { try MappingStoreOpening.check(mappingStore, passwordFile: mappingStorePasswordFile) }
        var format = PseudonymFormat()
        var valueVR: VR = .LO
        var keyPath = keyFile
        var tag = Tag.patientID
        if let attribute {
            guard let named = RewriteRules.tag(named: attribute) else {
                throw ValidationError("unknown attribute '\(attribute)'")
            }
            tag = named
            valueVR = DataDictionary.vr(for: tag) ?? .LO
            if let rewrite {
                let rules: RewriteRules
                do { rules = try RewriteRulesLoader.load(path: rewrite) } catch { throw CLIError("--rewrite: \(error)") }
                guard let rule = rules.attributes[tag], case .pseudonymize(let ruleFormat) = rule.action else {
                    throw ValidationError("\(rewrite) has no pseudonymize rule for \(attribute)")
                }
                format = ruleFormat
                keyPath = keyPath ?? rules.keyFile
            }
        } else if rewrite != nil {
            throw ValidationError("--rewrite needs --attribute")
        }
        if let vr {
            guard let parsed = VR(code: vr.uppercased()) else { throw ValidationError("unknown VR '\(vr)'") }
            valueVR = parsed
        }
        if let prefix { format.prefix = prefix }
        if let length { format.length = length }
        if let problem = Pseudonymizer.problem(with: format, vr: valueVR) { throw ValidationError(problem) }
        if issuer != nil && tag != Tag.patientID { throw ValidationError("--issuer applies to Patient ID only") }
        guard let keyPath else { throw ValidationError("give --key-file FILE") }
        let key: SecretKey
        do { key = try SecretKey(contentsOfFile: keyPath) } catch { throw CLIError("\(error)") }
        for warning in key.warnings {
            FileHandle.standardError.write(Data("dicomtap pseudonym: warning: \(warning)\n".utf8))
        }
        let pseudonymizer = Pseudonymizer(key: key)
        let store: (any PseudonymStore)?
        do {
            store = try mappingStore.map { location throws(RewriteError) in
                try MappingStoreOpening.open(location, passwordFile: mappingStorePasswordFile)
            }
        } catch {
            throw CLIError("\(error)")
        }
        defer { store?.close() }
        for value in values {
            let pseudonym = pseudonymizer.pseudonym(for: value, vr: valueVR, format: format, issuer: issuer)
            do {
                try store?.issued(PseudonymRecord(pseudonym: pseudonym, original: value, vr: valueVR, tag: tag, issuer: issuer))
            } catch {
                throw CLIError("\(error)")
            }
            print(pseudonym)
        }
    }
}
