import DICOMCore

/// Reads a patient record from a Part 10 file: the Patient Module (Patient ID, Issuer and its qualifiers, name,
/// birth date, sex, Other Patient IDs Sequence) and, for an SR document, its content tree, mapped back to
/// information items by the concept names the templates use (the inverse of `RPITemplates`, docs/STORE.md).
struct Part10PatientReader {
    let file: String
    let defaultObservationDateTime: String

    func read(_ dicom: DICOMFile) throws -> (record: PatientRecord, key: String) {
        let ds = dicom.dataset
        let charset = ds.characterSet(inheriting: .default)
        func text(_ tag: Tag, in dataset: Dataset? = nil, _ set: SpecificCharacterSet? = nil) throws -> String? {
            guard let element = (dataset ?? ds)[tag] else { return nil }
            switch element.strings(characterSet: set ?? charset) {
            case .values(let v)?: return v.first.flatMap { $0.isEmpty ? nil : $0 }  // first value: these fields are single-valued
            case .undecodable(let reason, _)?:
                throw StoreError(.invalidDICOM, file: file, location: tag.locationDescription,
                                 "cannot be decoded under \(set ?? charset): \(reason)")
            case nil:
                throw StoreError(.invalidDICOM, file: file, location: tag.locationDescription, "VR \(element.vr) is not a string VR")
            }
        }
        guard let patientID = try text(Tag.patientID), !patientID.isEmpty else {
            throw StoreError(.missingAttribute, file: file, location: Tag.patientID.locationDescription,
                             "the Patient Module has no Patient ID")
        }
        var universalID: String?, universalType: String?
        if let qualifiers = ds[Tag.issuerOfPatientIDQualifiersSequence]?.items?.first?.dataset {
            universalID = try text(Tag.universalEntityID, in: qualifiers)
            universalType = try text(Tag.universalEntityIDType, in: qualifiers)
        }
        var others: [OtherPatientID] = []
        for item in ds[Tag.otherPatientIDsSequence]?.items ?? [] {
            let itemSet = item.dataset.characterSet(inheriting: charset)
            if let id = try text(Tag.patientID, in: item.dataset, itemSet) {
                others.append(OtherPatientID(id: id, issuer: try text(Tag.issuerOfPatientID, in: item.dataset, itemSet),
                                             type: try text(Tag.typeOfPatientID, in: item.dataset, itemSet)))
            }
        }
        var observation = try text(Tag.observationDateTime)
        if observation == nil, let date = try text(Tag.contentDate) {
            observation = date + (try text(Tag.contentTime) ?? "").prefix { $0 != "." }
        }
        let observationDateTime = observation.flatMap { DICOMValueFormat.isDateTime($0) ? $0 : nil } ?? defaultObservationDateTime
        var items: [InformationItem] = []
        var walker = ContentWalker(file: file)
        for child in ds[Tag.contentSequence]?.items ?? [] {
            try walker.visit(child.dataset, charset: charset, section: nil, depth: 1, into: &items)
        }
        let record = PatientRecord(
            patientID: patientID, issuer: try text(Tag.issuerOfPatientID) ?? "", issuerUniversalID: universalID,
            issuerUniversalIDType: universalType, name: try text(Tag.patientName) ?? "",
            birthDate: try text(Tag.patientBirthDate) ?? "", sex: try text(Tag.patientSex) ?? "", otherIDs: others,
            observationDateTime: observationDateTime, items: items)
        let key = try text(Tag.sopInstanceUID).map { "sop:" + $0 } ?? "file:" + file
        return (record, key)
    }
}

/// Walks an SR content tree, turning the content items the templates write back into `InformationItem`s.
struct ContentWalker {
    let file: String
    static let maxDepth = 32
    typealias C = RPITemplates.Concept

    /// Item concept names → category. Previous Procedure / Procedure become `prior_study` inside Relevant Diagnostic
    /// Tests (TID 3802), `procedure` elsewhere.
    static func category(for concept: CodedConcept, section: CodedConcept?) -> ItemCategory? {
        let table: [(CodedConcept, ItemCategory)] = [
            (C.history, .history), (C.cardiovascularHistory, .history), (C.indicatedProblem, .problem), (C.problem, .problem),
            (C.medicationType, .medication), (C.previousProcedure, .procedure), (C.procedure, .procedure),
            (C.riskFactor, .riskFactor), (C.familyHistoryOfClinicalFinding, .familyHistory),
            (C.socialPersonalHistory, .socialHistory), (C.pregnancyStatus, .pregnancyStatus),
            (C.menopausalPhase, .menopausalPhase),
        ]
        guard let category = table.first(where: { $0.0.sameConcept(concept) })?.1 else { return nil }
        if category == .procedure, let section, section.sameConcept(C.relevantDiagnosticTests) { return .priorStudy }
        return category
    }

    static let startConcepts = [C.dateTimeStarted, C.dateTimeProblemObserved, C.dateTimeConcernNoted, C.procedureDateTime]
    static let endConcepts = [C.dateTimeEnded, C.dateTimeProblemResolved, C.dateTimeConcernResolved]

    mutating func visit(_ item: Dataset, charset inherited: SpecificCharacterSet, section: CodedConcept?, depth: Int,
                        into items: inout [InformationItem]) throws {
        guard depth <= Self.maxDepth else {
            throw StoreError(.invalidDICOM, file: file, location: Tag.contentSequence.locationDescription,
                             "content tree nested deeper than \(Self.maxDepth) levels")
        }
        let charset = item.characterSet(inheriting: inherited)
        guard let valueType = try string(Tag.valueType, item, charset), let concept = try code(Tag.conceptNameCodeSequence, item, charset) else {
            return  // not a content item we can read (e.g. a by-reference item): skipped
        }
        let children = item[Tag.contentSequence]?.items ?? []
        if valueType == "CONTAINER" {
            for child in children { try visit(child.dataset, charset: charset, section: concept, depth: depth + 1, into: &items) }
            return
        }
        var result: InformationItem
        if let category = Self.category(for: concept, section: section) {
            result = InformationItem(category: category)
        } else {
            result = InformationItem(category: .observation, concept: concept)
        }
        switch valueType {
        case "CODE": result.code = try code(Tag.conceptCodeSequence, item, charset)
        case "TEXT": result.text = try string(Tag.textValue, item, charset)
        case "NUM":
            if let measured = item[Tag.measuredValueSequence]?.items?.first?.dataset {
                result.numeric = try string(Tag.numericValue, measured, charset).flatMap { Double($0) }
                result.units = try code(Tag.measurementUnitsCodeSequence, measured, charset)
            }
        case "DATETIME": result.start = try string(Tag.dateTime, item, charset)
        case "DATE": result.start = try string(Tag.date, item, charset)
        default: return  // IMAGE, COMPOSITE, SCOORD...: not relevant patient information we store
        }
        for child in children {
            let c = child.dataset
            guard let childType = try string(Tag.valueType, c, charset),
                  let childConcept = try code(Tag.conceptNameCodeSequence, c, charset) else { continue }
            if childType == "DATETIME", let dt = try string(Tag.dateTime, c, charset) {
                if Self.startConcepts.contains(where: { $0.sameConcept(childConcept) }) { result.start = dt }
                if Self.endConcepts.contains(where: { $0.sameConcept(childConcept) }) { result.end = dt }
            } else if childType == "TEXT", childConcept.sameConcept(C.comment) {
                result.text = try string(Tag.textValue, c, charset)
            }
        }
        if result.category == .observation, result.numeric == nil, result.code == nil, result.text == nil { return }
        if result.category != .observation, result.code == nil, result.text == nil { return }
        items.append(result)
    }

    func string(_ tag: Tag, _ ds: Dataset, _ charset: SpecificCharacterSet) throws -> String? {
        guard let element = ds[tag] else { return nil }
        switch element.strings(characterSet: charset) {
        case .values(let v)?: return v.first.flatMap { $0.isEmpty ? nil : $0 }  // first value: these fields are single-valued
        case .undecodable(let reason, _)?:
            throw StoreError(.invalidDICOM, file: file, location: tag.locationDescription, "cannot be decoded: \(reason)")
        case nil:
            throw StoreError(.invalidDICOM, file: file, location: tag.locationDescription, "VR \(element.vr) is not a string VR")
        }
    }

    func code(_ tag: Tag, _ ds: Dataset, _ charset: SpecificCharacterSet) throws -> CodedConcept? {
        guard let item = ds[tag]?.items?.first?.dataset else { return nil }
        let value = try string(Tag.codeValue, item, charset) ?? string(Tag.longCodeValue, item, charset)
            ?? string(Tag.urnCodeValue, item, charset)
        guard let value, let scheme = try string(Tag.codingSchemeDesignator, item, charset) else { return nil }
        return CodedConcept(value, scheme, try string(Tag.codeMeaning, item, charset) ?? "")
    }
}
