/// The content of the three root templates we build from a `PatientRecord` (PS3.16 TID 9007, TID 9000, TID 3802
/// and the sub-templates they include). docs/STORE.md lists which rows are built and which are not.
enum RPITemplates {
    /// Concept names used by the templates (PS3.16 Annex D for DCM; LOINC; SNOMED CT).
    enum Concept {
        // Roots
        static let relevantPatientInformation = CodedConcept("111517", "DCM", "Relevant Patient Information")
        static let relevantPatientInformationForBreastImaging =
            CodedConcept("111511", "DCM", "Relevant Patient Information for Breast Imaging")
        static let history = CodedConcept("11329-0", "LN", "History")
        /// TID 3802's root and its History row (CP-759, which added the cardiac query: EV (121060, DCM, "History")).
        static let cardiovascularHistory = CodedConcept("121060", "DCM", "History")
        // TID 9000-series (Supplement 75 content)
        static let medicationHistory = CodedConcept("111512", "DCM", "Medication History")
        static let medicationType = CodedConcept("111516", "DCM", "Medication Type")
        static let dateTimeStarted = CodedConcept("111526", "DCM", "DateTime Started")
        static let dateTimeEnded = CodedConcept("111527", "DCM", "DateTime Ended")
        static let relevantPreviousProcedures = CodedConcept("111513", "DCM", "Relevant Previous Procedures")
        static let previousProcedure = CodedConcept("111531", "DCM", "Previous Procedure")
        static let procedureDateTime = CodedConcept("122146", "DCM", "Procedure DateTime")
        static let relevantIndicatedProblems = CodedConcept("111514", "DCM", "Relevant Indicated Problems")
        static let indicatedProblem = CodedConcept("111533", "DCM", "Indicated Problem")
        static let dateTimeProblemObserved = CodedConcept("111535", "DCM", "DateTime problem observed")
        static let dateTimeProblemResolved = CodedConcept("121433", "DCM", "DateTime Problem Resolved")
        static let relevantRiskFactors = CodedConcept("111515", "DCM", "Relevant Risk Factors")
        static let riskFactor = CodedConcept("80943009", "SCT", "Risk factor")
        static let familyHistoryOfClinicalFinding = CodedConcept("416471007", "SCT", "Family history of clinical finding")
        static let socialPersonalHistory = CodedConcept("160476009", "SCT", "Social / personal history observable")
        static let pregnancyStatus = CodedConcept("111532", "DCM", "Pregnancy Status")
        static let menopausalPhase = CodedConcept("111539", "DCM", "Menopausal phase")
        // TID 9001 Gynecological History, row 1. The 2013 table has (R-20767, SRT, "Gynecological History");
        // pydicom 3.0.2's SRT→SCT table (`pydicom.sr._snomed_dict`) maps R-20767 to SCT 267011001.
        static let gynecologicalHistory = CodedConcept("267011001", "SCT", "Gynecological History")
        static let comment = CodedConcept("121106", "DCM", "Comment")
        // TID 3802 Cardiovascular Patient History
        static let problemList = CodedConcept("11450-4", "LN", "Problem List")
        static let problem = CodedConcept("55607006", "SCT", "Problem")
        static let dateTimeConcernNoted = CodedConcept("121431", "DCM", "DateTime Concern Noted")
        static let dateTimeConcernResolved = CodedConcept("121432", "DCM", "DateTime Concern Resolved")
        static let socialHistory = CodedConcept("29762-2", "LN", "Social History")
        static let pastSurgicalHistory = CodedConcept("10167-5", "LN", "Past Surgical History")
        static let procedure = CodedConcept("71388002", "SCT", "Procedure")
        static let relevantDiagnosticTests =
            CodedConcept("30954-2", "LN", "Relevant Diagnostic Tests and/or Laboratory Data")
        static let historyOfMedicationUse = CodedConcept("10160-0", "LN", "History of Medication Use")
        static let historyOfFamilyMemberDiseases = CodedConcept("10157-6", "LN", "History of Family Member Diseases")
    }

    /// The root concept (first row) of a template we build.
    static func rootConcept(template: String) -> CodedConcept? {
        switch template {
        case "9007": return Concept.relevantPatientInformation
        case "9000": return Concept.relevantPatientInformationForBreastImaging
        case "3802": return Concept.cardiovascularHistory
        default: return nil
        }
    }

    /// The Content Sequence of the root for `template`, built from `items` in their stored order, grouped as the
    /// template orders its rows.
    static func content(template: String, items: [InformationItem]) -> [ContentItem] {
        switch template {
        case "9007": return general(items)
        case "9000": return breast(items)
        case "3802": return cardiovascular(items)
        default: return []
        }
    }

    // MARK: Item builders shared by the templates

    static func of(_ items: [InformationItem], _ categories: ItemCategory...) -> [InformationItem] {
        items.filter { categories.contains($0.category) }
    }

    /// A coded item (or a TEXT item with the same concept name when there is only text), with its dates and a
    /// comment as HAS PROPERTIES children.
    static func coded(_ name: CodedConcept, _ item: InformationItem, start: CodedConcept?, end: CodedConcept?,
                      relationship: String = "CONTAINS") -> ContentItem? {
        let value: ContentItem.Value
        var commentText = item.text
        if let code = item.code {
            value = .code(code)
        } else if let text = item.text {
            value = .text(text)
            commentText = nil
        } else {
            return nil
        }
        var children: [ContentItem] = []
        if let start, let dt = item.start { children.append(.property(start, .dateTime(dt))) }
        if let end, let dt = item.end { children.append(.property(end, .dateTime(dt))) }
        if let commentText { children.append(.property(Concept.comment, .text(commentText))) }
        return ContentItem(relationship: relationship, concept: name, value: value, children: children)
    }

    /// An `observation` item: NUM with units, CODE or TEXT under its own concept name.
    static func observation(_ item: InformationItem) -> ContentItem? {
        guard let concept = item.concept else { return nil }
        var children: [ContentItem] = []
        if let dt = item.start { children.append(.property(Concept.dateTimeStarted, .dateTime(dt))) }
        if let number = item.numeric, let units = item.units {
            if let text = item.text { children.append(.property(Concept.comment, .text(text))) }
            return .contains(concept, .numeric(number, units: units), children)
        }
        if let code = item.code {
            if let text = item.text { children.append(.property(Concept.comment, .text(text))) }
            return .contains(concept, .code(code), children)
        }
        if let text = item.text { return .contains(concept, .text(text), children) }
        return nil
    }

    static func section(_ concept: CodedConcept, _ children: [ContentItem]) -> [ContentItem] {
        children.isEmpty ? [] : [.contains(concept, .container, children)]
    }

    /// The TID 9001 NUM rows (ages at menarche, first full-term pregnancy, menopause, hysterectomy, left and right
    /// oophorectomy: DCM 111518–111523). Row 4 (111518) is legible in the PS3.16-2013 table; the others are placed by
    /// their units and row order (docs/STORE.md).
    static let gynecologicalHistoryConcepts: [CodedConcept] = [
        CodedConcept("111518", "DCM", "Age when first menstrual period occurred"),
        CodedConcept("111519", "DCM", "Age at First Full Term Pregnancy"),
        CodedConcept("111520", "DCM", "Age at Menopause"),
        CodedConcept("111521", "DCM", "Age when hysterectomy performed"),
        CodedConcept("111522", "DCM", "Age when left ovary removed"),
        CodedConcept("111523", "DCM", "Age when right ovary removed"),
    ]

    static func isGynecologicalHistory(_ item: InformationItem) -> Bool {
        guard let concept = item.concept else { return false }
        return gynecologicalHistoryConcepts.contains { $0.sameConcept(concept) }
    }

    /// `observation` items: those with a TID 9001 concept go into one CONTAINS CONTAINER (267011001, SCT,
    /// "Gynecological History") (TID 9001 row 1, their row 4 nesting `>`), the others stay where the caller puts them.
    static func observations(_ items: [InformationItem]) -> [ContentItem] {
        let observed = of(items, .observation)
        let gynecological = observed.filter(isGynecologicalHistory).compactMap(observation)
        return section(Concept.gynecologicalHistory, gynecological)
            + observed.filter { !isGynecologicalHistory($0) }.compactMap(observation)
    }

    static func histories(_ items: [InformationItem], concept: CodedConcept = Concept.history) -> [ContentItem] {
        of(items, .history).compactMap { $0.text.map { .contains(concept, .text($0)) } }
    }

    // MARK: TID 9007 General Relevant Patient Information (our reading, see docs/STORE.md)

    static func general(_ items: [InformationItem]) -> [ContentItem] {
        var content = histories(items)
        content += of(items, .pregnancyStatus).compactMap { coded(Concept.pregnancyStatus, $0, start: nil, end: nil) }
        content += commonSections(items)
        content += of(items, .socialHistory).compactMap {
            coded(Concept.socialPersonalHistory, $0, start: Concept.dateTimeStarted, end: Concept.dateTimeEnded)
        }
        content += of(items, .menopausalPhase).compactMap { coded(Concept.menopausalPhase, $0, start: nil, end: nil) }
        content += observations(items)
        return content
    }

    /// The TID 9002–9005 sections shared by TID 9007 and TID 9000: medications, previous procedures and studies,
    /// indicated problems (problems and allergies), risk factors (including family history).
    static func commonSections(_ items: [InformationItem]) -> [ContentItem] {
        var content: [ContentItem] = []
        content += section(Concept.medicationHistory, of(items, .medication).compactMap {
            coded(Concept.medicationType, $0, start: Concept.dateTimeStarted, end: Concept.dateTimeEnded)
        })
        content += section(Concept.relevantPreviousProcedures, of(items, .procedure, .priorStudy).compactMap {
            coded(Concept.previousProcedure, $0, start: Concept.procedureDateTime, end: nil)
        })
        content += section(Concept.relevantIndicatedProblems, of(items, .problem, .allergy).compactMap {
            coded(Concept.indicatedProblem, $0, start: Concept.dateTimeProblemObserved, end: Concept.dateTimeProblemResolved)
        })
        content += section(Concept.relevantRiskFactors, of(items, .riskFactor, .familyHistory).compactMap { item in
            coded(item.category == .familyHistory ? Concept.familyHistoryOfClinicalFinding : Concept.riskFactor, item,
                  start: nil, end: nil)
        })
        return content
    }

    // MARK: TID 9000 Relevant Patient Information for Breast Imaging

    static func breast(_ items: [InformationItem]) -> [ContentItem] {
        var content = histories(items)
        content += of(items, .menopausalPhase).compactMap { coded(Concept.menopausalPhase, $0, start: nil, end: nil) }
        content += of(items, .pregnancyStatus).compactMap { coded(Concept.pregnancyStatus, $0, start: nil, end: nil) }
        // TID 9001 Gynecological History container (ages at menarche, first full-term pregnancy, menopause...), then
        // any other observation.
        content += observations(items)
        content += commonSections(items)
        return content
    }

    // MARK: TID 3802 Cardiovascular Patient History

    static func cardiovascular(_ items: [InformationItem]) -> [ContentItem] {
        var content = histories(items, concept: Concept.cardiovascularHistory)
        content += section(Concept.problemList, of(items, .problem, .allergy).compactMap {
            coded(Concept.problem, $0, start: Concept.dateTimeConcernNoted, end: Concept.dateTimeConcernResolved)
        })
        content += section(Concept.socialHistory, of(items, .socialHistory).compactMap {
            coded(Concept.socialPersonalHistory, $0, start: nil, end: nil)
        })
        content += section(Concept.pastSurgicalHistory, of(items, .procedure).compactMap {
            coded(Concept.procedure, $0, start: Concept.procedureDateTime, end: nil)
        })
        var tests = of(items, .priorStudy).compactMap {
            coded(Concept.procedure, $0, start: Concept.procedureDateTime, end: nil)
        }
        tests += of(items, .observation).compactMap(observation)
        content += section(Concept.relevantDiagnosticTests, tests)
        content += section(Concept.historyOfMedicationUse, of(items, .medication).compactMap {
            coded(Concept.medicationType, $0, start: Concept.dateTimeStarted, end: Concept.dateTimeEnded)
        })
        content += section(Concept.historyOfFamilyMemberDiseases, of(items, .familyHistory).compactMap {
            coded(Concept.familyHistoryOfClinicalFinding, $0, start: nil, end: nil)
        })
        return content
    }
}
