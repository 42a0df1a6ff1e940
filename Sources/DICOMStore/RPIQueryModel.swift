import DICOMCore
import DIMSE

/// The three Relevant Patient Information Query SOP classes (PS3.4 Annex Q, Table Q.4-3).
package enum RPIQueryModel: String, Sendable, CaseIterable {
    case general, breast, cardiac

    /// The SOP Class UID (PS3.4 Table Q.4-3; PS3.6 Annex A).
    package var sopClassUID: String {
        switch self {
        case .general: return RelevantPatientInformationQuery.general
        case .breast: return RelevantPatientInformationQuery.breastImaging
        case .cardiac: return RelevantPatientInformationQuery.cardiac
        }
    }

    /// The root template the SOP class names: TID 9007 General Relevant Patient Information, TID 9000 Relevant
    /// Patient Information for Breast Imaging, TID 3802 Cardiovascular Patient History.
    package var defaultTemplate: String {
        switch self {
        case .general: return "9007"
        case .breast: return "9000"
        case .cardiac: return "3802"
        }
    }

    /// The root templates this SCP accepts under the SOP class. The breast and cardiac classes fix their root
    /// template (Table Q.4-3). The general class names TID 9007 "or from the list" of PS3.16 Annex K, which is
    /// extensible; of that list we build 9007, 9000 and 3802 (9001–9006 are sub-templates we do not build as roots).
    package var acceptedTemplates: [String] {
        switch self {
        case .general: return ["9007", "9000", "3802"]
        case .breast: return ["9000"]
        case .cardiac: return ["3802"]
        }
    }

    package init?(sopClassUID: String) {
        let uid = String(sopClassUID.drop { $0 == " " }.reversed().drop { $0 == " " || $0 == "\0" }.reversed())
        guard let model = RPIQueryModel.allCases.first(where: { $0.sopClassUID == uid }) else { return nil }
        self = model
    }
}

/// What the SCP answers a Relevant Patient Information C-FIND with (PS3.4 §Q.2.1.1.4, Table Q.2-1).
package enum RPIFindOutcome: Sendable {
    /// One match: the one Pending (0xFF00) identifier, ready to encode, then Success.
    case match(Dataset)
    /// No match: Success (0x0000) alone.
    case noMatch
    /// More than one match: Failed 0xC100, with the number of matching patients.
    case multipleMatches(Int)
    /// Failed 0xC200 "Unable to support requested template"; the text is for Error Comment (0000,0902).
    case templateUnsupported(String)
    /// Error 0xA900 "Identifier does not match SOP Class", with Offending Element (0000,0901) and Error Comment.
    case invalidIdentifier(offending: [Tag], comment: String)
}

extension RPIFindOutcome {
    /// The status of the response that ends the C-FIND (PS3.4 Table Q.2-1): 0x0000 after a match (which is sent
    /// first as one 0xFF00 Pending response carrying the identifier) or no match, else the failure code.
    package var finalStatus: UInt16 {
        switch self {
        case .match, .noMatch: return StatusCode.success
        case .multipleMatches: return RelevantPatientInformationQuery.Status.moreThanOneMatch
        case .templateUnsupported: return RelevantPatientInformationQuery.Status.unableToSupportRequestedTemplate
        case .invalidIdentifier: return StatusCode.identifierDoesNotMatchSOPClass
        }
    }

    /// Error Comment (0000,0902) for a failure, at most 64 characters (LO); nil for match and no match.
    package var errorComment: String? {
        switch self {
        case .match, .noMatch: return nil
        case .multipleMatches(let n): return ErrorComment.fitting("\(n) patients match; give the Issuer of Patient ID")
        case .templateUnsupported(let comment), .invalidIdentifier(_, let comment): return ErrorComment.fitting(comment)
        }
    }
}
