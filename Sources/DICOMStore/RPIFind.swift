import DICOMCore

extension RPIStore {
    /// Answers one Relevant Patient Information Query C-FIND (PS3.4 Annex Q).
    ///
    /// `identifier` is the request identifier as decoded from the wire (any transfer syntax; strings are read under
    /// its Specific Character Set). Checks, in order: the identifier (Patient ID present, single-valued and
    /// non-empty; one Content Template Sequence item with Mapping Resource and Template Identifier) → 0xA900; the
    /// template (DCMR and one this SOP class allows and we build) → 0xC200; then an indexed lookup on Patient ID and,
    /// when given with a value, Issuer of Patient ID and the issuer's Universal Entity ID (single value matching,
    /// Table Q.4-1) → no match, one match (the Pending identifier) or 0xC100.
    package func find(identifier: Dataset, model: RPIQueryModel) throws -> RPIFindOutcome {
        let request: RPIRequest
        switch RPIRequest.parse(identifier, model: model) {
        case .success(let parsed): request = parsed
        case .failure(let failure): return failure.outcome
        }
        let rows = try lookup(patientID: request.patientID, issuer: request.issuer, universalID: request.universalID)
        guard rows.count == 1, let rowID = rows.first else {
            return rows.isEmpty ? .noMatch : .multipleMatches(rows.count)
        }
        guard let record = try record(rowID: rowID) else { return .noMatch }  // deleted in between
        return .match(try RPIResponseBuilder(request: request, record: record).build())
    }
}

/// A request identifier, checked.
struct RPIRequest {
    var identifier: Dataset
    var characterSet: SpecificCharacterSet
    var patientID: String
    /// Issuer of Patient ID when present with a value (nil: any issuer).
    var issuer: String?
    /// Universal Entity ID of the Issuer of Patient ID Qualifiers Sequence, when present with a value.
    var universalID: String?
    var mappingResource: String
    var template: String

    struct Failure: Error {
        let outcome: RPIFindOutcome
        static func invalid(_ tag: Tag, _ comment: String) -> Failure {
            Failure(outcome: .invalidIdentifier(offending: [tag], comment: comment))
        }
    }

    static func parse(_ identifier: Dataset, model: RPIQueryModel) -> Result<RPIRequest, Failure> {
        let characterSet = identifier.characterSet(inheriting: .default)
        if !characterSet.unsupportedTerms.isEmpty {
            return .failure(.invalid(Tag.specificCharacterSet,
                                     "unsupported Specific Character Set \(characterSet.unsupportedTerms.joined(separator: "\\"))"))
        }
        // Patient ID: required matching key, single value matching (Table Q.4-1).
        guard let idElement = identifier[Tag.patientID] else {
            return .failure(.invalid(Tag.patientID, "Patient ID (0010,0020) is required in the request identifier"))
        }
        let patientID: String
        switch values(of: idElement, characterSet) {
        case .failure(let failure): return .failure(failure)
        case .success(let v):
            guard let first = v.first, !first.isEmpty else {
                return .failure(.invalid(Tag.patientID, "Patient ID (0010,0020) is empty; Annex Q requires a value"))
            }
            guard v.count == 1 else {
                return .failure(.invalid(Tag.patientID, "Patient ID (0010,0020) has \(v.count) values; one is required"))
            }
            patientID = first
        }
        var issuer: String?
        if let element = identifier[Tag.issuerOfPatientID] {
            switch values(of: element, characterSet) {
            case .failure(let failure): return .failure(failure)
            case .success(let v): issuer = v.first.flatMap { $0.isEmpty ? nil : $0 }
            }
        }
        var universalID: String?
        if let qualifiers = identifier[Tag.issuerOfPatientIDQualifiersSequence]?.items?.first?.dataset,
           let element = qualifiers[Tag.universalEntityID] {
            switch values(of: element, characterSet) {
            case .failure(let failure): return .failure(failure)
            case .success(let v): universalID = v.first.flatMap { $0.isEmpty ? nil : $0 }
            }
        }
        // Content Template Sequence: one item with Mapping Resource and Template Identifier (Table Q.4-2).
        guard let templateItems = identifier[Tag.contentTemplateSequence]?.items, !templateItems.isEmpty else {
            return .failure(.invalid(Tag.contentTemplateSequence,
                                     "Content Template Sequence (0040,A504) item required"))
        }
        guard templateItems.count == 1 else {
            return .failure(.invalid(Tag.contentTemplateSequence,
                                     "(0040,A504) has \(templateItems.count) items; one is required"))
        }
        let templateItem = templateItems[0].dataset
        guard let tidElement = templateItem[Tag.templateIdentifier],
              case .success(let tidValues) = values(of: tidElement, characterSet),
              let template = tidValues.first, !template.isEmpty else {
            return .failure(.invalid(Tag.contentTemplateSequence,
                                     "Template Identifier (0040,DB00) missing in (0040,A504) item"))
        }
        guard let resourceElement = templateItem[Tag.mappingResource],
              case .success(let resourceValues) = values(of: resourceElement, characterSet),
              let mappingResource = resourceValues.first, !mappingResource.isEmpty else {
            return .failure(.invalid(Tag.contentTemplateSequence,
                                     "Mapping Resource (0008,0105) missing in (0040,A504) item"))
        }
        guard mappingResource == "DCMR" else {
            return .failure(Failure(outcome: .templateUnsupported(
                "mapping resource \(mappingResource) unsupported; use DCMR")))
        }
        guard model.acceptedTemplates.contains(template), RPITemplates.rootConcept(template: template) != nil else {
            // Fits Error Comment (LO, 64 characters): "TID 9001 unsupported; use 9007, 9000, 3802".
            return .failure(Failure(outcome: .templateUnsupported(
                "TID \(template) unsupported; use \(model.acceptedTemplates.joined(separator: ", "))")))
        }
        return .success(RPIRequest(identifier: identifier, characterSet: characterSet, patientID: patientID,
                                   issuer: issuer, universalID: universalID, mappingResource: mappingResource,
                                   template: template))
    }

    static func values(of element: DataElement, _ characterSet: SpecificCharacterSet) -> Result<[String], Failure> {
        switch element.strings(characterSet: characterSet) {
        case .values(let v)?: return .success(v)
        case .undecodable(let reason, _)?:
            return .failure(.invalid(element.tag, "\(element.tag.locationDescription) cannot be decoded under \(characterSet): \(reason)"))
        case nil:
            return .failure(.invalid(element.tag, "\(element.tag.locationDescription) has VR \(element.vr), not a string VR"))
        }
    }
}

/// Builds the Pending response identifier for one matched record (PS3.4 §Q.2.1.1.3.2, Table Q.4-1).
struct RPIResponseBuilder {
    let request: RPIRequest
    let record: PatientRecord

    /// Tries the default repertoire, then the request's own character set, then ISO_IR 192 (UTF-8), and keeps the
    /// first that represents every value; (0008,0005) is present only when it is not the default repertoire.
    func build() throws -> Dataset {
        var candidates: [SpecificCharacterSet] = [.default]
        if request.characterSet != .default { candidates.append(request.characterSet) }
        let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])
        if !candidates.contains(utf8) { candidates.append(utf8) }
        var lastFailure: Unencodable?
        for characterSet in candidates {
            do {
                return try build(ElementFactory(characterSet: characterSet))
            } catch {
                lastFailure = error
            }
        }
        let tag = lastFailure?.tag.locationDescription ?? "a value"
        throw StoreError(.unencodable, "\(tag) of patient \(record.patientID) cannot be encoded in UTF-8")
    }

    func build(_ f: ElementFactory) throws(Unencodable) -> Dataset {
        var ds = Dataset()
        if f.characterSet != .default {
            ds.set(try f.strings(Tag.specificCharacterSet, .CS, f.characterSet.terms))
        }
        for element in request.identifier where !element.tag.isGroupLength {
            switch element.tag {
            case Tag.specificCharacterSet, Tag.observationDateTime, Tag.valueType, Tag.conceptNameCodeSequence,
                 Tag.contentSequence, Tag.contentTemplateSequence:
                continue  // written below
            case Tag.patientName: ds.set(try f.string(Tag.patientName, .PN, record.name))
            case Tag.patientID: continue
            case Tag.issuerOfPatientID: ds.set(try f.string(Tag.issuerOfPatientID, .LO, record.issuer))
            case Tag.issuerOfPatientIDQualifiersSequence:
                var items: [Dataset] = []
                if let universal = record.issuerUniversalID {
                    var item = Dataset()
                    item.set(try f.string(Tag.universalEntityID, .UT, universal))
                    item.set(try f.string(Tag.universalEntityIDType, .CS, record.issuerUniversalIDType ?? ""))
                    items.append(item)
                }
                ds.set(.sequence(Tag.issuerOfPatientIDQualifiersSequence, items: items))
            case Tag.patientBirthDate: ds.set(try f.string(Tag.patientBirthDate, .DA, record.birthDate))
            case Tag.patientSex: ds.set(try f.string(Tag.patientSex, .CS, record.sex))
            case Tag.otherPatientIDs: ds.set(try f.strings(Tag.otherPatientIDs, .LO, record.otherIDs.map(\.id)))
            case Tag.otherPatientIDsSequence:
                var items: [Dataset] = []
                for other in record.otherIDs {
                    var item = Dataset()
                    item.set(try f.string(Tag.patientID, .LO, other.id))
                    item.set(try f.string(Tag.issuerOfPatientID, .LO, other.issuer ?? ""))
                    item.set(try f.string(Tag.typeOfPatientID, .CS, other.type ?? "TEXT"))
                    items.append(item)
                }
                ds.set(.sequence(Tag.otherPatientIDsSequence, items: items))
            default:
                // A return key we hold no value for: returned zero-length (it was in the request, so allowed).
                ds.set(.empty(element.tag, vr: element.vr))
            }
        }
        ds.set(try f.string(Tag.patientID, .LO, record.patientID))
        var templateItem = Dataset()
        templateItem.set(try f.string(Tag.mappingResource, .CS, request.mappingResource))
        templateItem.set(try f.string(Tag.templateIdentifier, .CS, request.template))
        ds.set(.sequence(Tag.contentTemplateSequence, items: [templateItem]))
        // SR Document Content: the root content item of the requested template (§Q.4.3.1.2.1).
        ds.set(try f.string(Tag.observationDateTime, .DT, record.observationDateTime))
        guard let rootConcept = RPITemplates.rootConcept(template: request.template) else {
            throw Unencodable(tag: Tag.contentTemplateSequence)  // parse() accepted only templates with a root
        }
        let root = ContentItem(relationship: nil, concept: rootConcept, value: .container,
                               children: RPITemplates.content(template: request.template, items: record.items))
        try f.addValue(of: root, to: &ds, isRoot: true)
        var children: [Dataset] = []
        for child in root.children { children.append(try f.dataset(for: child)) }
        ds.set(.sequence(Tag.contentSequence, items: children))
        return ds
    }
}
