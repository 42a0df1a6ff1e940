/// A coded concept: (code value, coding scheme designator, code meaning), PS3.3 §8.8 Code Sequence Macro.
public struct CodedConcept: Sendable, Hashable, Codable, CustomStringConvertible {
    public var value: String
    public var scheme: String
    public var meaning: String

    public init(_ value: String, _ scheme: String, _ meaning: String) {
        self.value = value
        self.scheme = scheme
        self.meaning = meaning
    }

    public var description: String { "(\(value), \(scheme), \"\(meaning)\")" }

    /// Same concept: code value and scheme (the meaning is only a display string).
    func sameConcept(_ other: CodedConcept) -> Bool { value == other.value && scheme == other.scheme }
}

/// What a relevant patient information item is about; decides where the templates put it (docs/STORE.md).
public enum ItemCategory: String, Sendable, Hashable, CaseIterable, Codable {
    /// Free-text history (history of present illness, general history).
    case history
    /// A problem, diagnosis or condition (coded).
    case problem
    /// An allergy or adverse reaction (coded, e.g. SCT 293637006 "Allergy to contrast media").
    case allergy
    /// A medication (coded substance or product; text dose).
    case medication
    /// A previous procedure (surgery, intervention).
    case procedure
    /// A prior imaging study (coded procedure, e.g. LOINC 36626-0 "breast - bilateral mammogram").
    case priorStudy = "prior_study"
    /// A risk factor (e.g. DCM 111556 "BRCA1 breast cancer gene").
    case riskFactor = "risk_factor"
    /// A disease in the family (coded finding).
    case familyHistory = "family_history"
    /// Social history (e.g. SCT 8517006 "Former Smoker").
    case socialHistory = "social_history"
    /// Pregnancy status (coded, e.g. SCT 60001007 "not pregnant").
    case pregnancyStatus = "pregnancy_status"
    /// Menopausal phase (coded, e.g. SCT 307429007 "After menopause").
    case menopausalPhase = "menopausal_phase"
    /// A named observation with its own concept name: a number with units (age at menarche, LDL cholesterol,
    /// creatinine...), a code or a text.
    case observation
}

/// One relevant patient information item as stored.
public struct InformationItem: Sendable, Hashable {
    public var category: ItemCategory
    /// The coded value (the problem, the drug, the procedure...).
    public var code: CodedConcept?
    /// For `observation`: the concept name of the observation.
    public var concept: CodedConcept?
    /// Free text: the history text, or a comment on a coded item (dose, laterality, result...).
    public var text: String?
    /// DICOM DT (YYYYMMDD[HHMMSS...]): when it started, was observed or performed.
    public var start: String?
    /// DICOM DT: when it ended or was resolved.
    public var end: String?
    /// For a numeric observation: the value and its UCUM units.
    public var numeric: Double?
    public var units: CodedConcept?

    public init(category: ItemCategory, code: CodedConcept? = nil, concept: CodedConcept? = nil, text: String? = nil,
                start: String? = nil, end: String? = nil, numeric: Double? = nil, units: CodedConcept? = nil) {
        self.category = category
        self.code = code
        self.concept = concept
        self.text = text
        self.start = start
        self.end = end
        self.numeric = numeric
        self.units = units
    }
}

/// Another identifier of the same patient (Other Patient IDs Sequence (0010,1002) item).
public struct OtherPatientID: Sendable, Hashable, Codable {
    public var id: String
    public var issuer: String?
    /// Type of Patient ID (0010,0022): TEXT, RFID, BARCODE.
    public var type: String?

    public init(id: String, issuer: String? = nil, type: String? = nil) {
        self.id = id
        self.issuer = issuer
        self.type = type
    }
}

/// One patient with the relevant information the store holds about them.
public struct PatientRecord: Sendable, Hashable {
    public var patientID: String
    /// Issuer of Patient ID (0010,0021); empty when unknown.
    public var issuer: String
    /// Universal Entity ID (0040,0032) and its type (0040,0033) from the Issuer of Patient ID Qualifiers Sequence.
    public var issuerUniversalID: String?
    public var issuerUniversalIDType: String?
    /// Patient's Name (0010,0010), DICOM PN form (`Family^Given^Middle^Prefix^Suffix`, `=`-separated groups).
    public var name: String
    /// Patient's Birth Date (0010,0030), DA (YYYYMMDD), empty when unknown.
    public var birthDate: String
    /// Patient's Sex (0010,0040): M, F, O or empty.
    public var sex: String
    public var otherIDs: [OtherPatientID]
    /// Observation DateTime (0040,A032) of the information: when it was last confirmed.
    public var observationDateTime: String
    public var items: [InformationItem]

    public init(patientID: String, issuer: String = "", issuerUniversalID: String? = nil,
                issuerUniversalIDType: String? = nil, name: String, birthDate: String = "", sex: String = "",
                otherIDs: [OtherPatientID] = [], observationDateTime: String, items: [InformationItem] = []) {
        self.patientID = patientID
        self.issuer = issuer
        self.issuerUniversalID = issuerUniversalID
        self.issuerUniversalIDType = issuerUniversalIDType
        self.name = name
        self.birthDate = birthDate
        self.sex = sex
        self.otherIDs = otherIDs
        self.observationDateTime = observationDateTime
        self.items = items
    }
}
