/// A coded concept: (code value, coding scheme designator, code meaning), PS3.3 §8.8 Code Sequence Macro.
package struct CodedConcept: Sendable, Hashable, Codable, CustomStringConvertible {
    package var value: String
    package var scheme: String
    package var meaning: String

    package init(_ value: String, _ scheme: String, _ meaning: String) {
        self.value = value
        self.scheme = scheme
        self.meaning = meaning
    }

    package var description: String { "(\(value), \(scheme), \"\(meaning)\")" }

    /// Same concept: code value and scheme (the meaning is only a display string).
    func sameConcept(_ other: CodedConcept) -> Bool { value == other.value && scheme == other.scheme }
}

/// What a relevant patient information item is about; decides where the templates put it (docs/STORE.md).
package enum ItemCategory: String, Sendable, Hashable, CaseIterable, Codable {
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
package struct InformationItem: Sendable, Hashable {
    package var category: ItemCategory
    /// The coded value (the problem, the drug, the procedure...).
    package var code: CodedConcept?
    /// For `observation`: the concept name of the observation.
    package var concept: CodedConcept?
    /// Free text: the history text, or a comment on a coded item (dose, laterality, result...).
    package var text: String?
    /// DICOM DT (YYYYMMDD[HHMMSS...]): when it started, was observed or performed.
    package var start: String?
    /// DICOM DT: when it ended or was resolved.
    package var end: String?
    /// For a numeric observation: the value and its UCUM units.
    package var numeric: Double?
    package var units: CodedConcept?

    package init(category: ItemCategory, code: CodedConcept? = nil, concept: CodedConcept? = nil, text: String? = nil,
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
package struct OtherPatientID: Sendable, Hashable, Codable {
    package var id: String
    package var issuer: String?
    /// Type of Patient ID (0010,0022): TEXT, RFID, BARCODE.
    package var type: String?

    package init(id: String, issuer: String? = nil, type: String? = nil) {
        self.id = id
        self.issuer = issuer
        self.type = type
    }
}

/// One patient with the relevant information the store holds about them.
package struct PatientRecord: Sendable, Hashable {
    package var patientID: String
    /// Issuer of Patient ID (0010,0021); empty when unknown.
    package var issuer: String
    /// Universal Entity ID (0040,0032) and its type (0040,0033) from the Issuer of Patient ID Qualifiers Sequence.
    package var issuerUniversalID: String?
    package var issuerUniversalIDType: String?
    /// Patient's Name (0010,0010), DICOM PN form (`Family^Given^Middle^Prefix^Suffix`, `=`-separated groups).
    package var name: String
    /// Patient's Birth Date (0010,0030), DA (YYYYMMDD), empty when unknown.
    package var birthDate: String
    /// Patient's Sex (0010,0040): M, F, O or empty.
    package var sex: String
    package var otherIDs: [OtherPatientID]
    /// Observation DateTime (0040,A032) of the information: when it was last confirmed.
    package var observationDateTime: String
    package var items: [InformationItem]

    package init(patientID: String, issuer: String = "", issuerUniversalID: String? = nil,
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
