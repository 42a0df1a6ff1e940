import Testing
import DICOMPeerSupport
@testable import DICOMCore

@Suite("DataDictionary")
struct DataDictionaryTests {
    @Test func patientName() throws {
        let e = try #require(DataDictionary.entry(for: Tag(group: 0x0010, element: 0x0010)))
        #expect(e.tag == Tag(0x0010_0010))
        #expect(e.vrs == [.PN])
        #expect(e.vm == "1")
        #expect(e.keyword == "PatientName")
        #expect(e.name == "Patient's Name")
        #expect(!e.isRetired)
        #expect(e.repeatingGroupMask == nil)
        #expect(DataDictionary.vr(for: Tag(0x0010_0010)) == .PN)
        #expect(DataDictionary.keyword(for: Tag(0x0010_0010)) == "PatientName")
    }

    /// Each named attribute tag (`Tag.patientID`, ...) is the dictionary's tag of the keyword it is named after.
    @Test func namedAttributeTags() {
        let named: [(DICOMCore.Tag, String)] = [
            (.transferSyntaxUID, "TransferSyntaxUID"),
            (.specificCharacterSet, "SpecificCharacterSet"),
            (.sopInstanceUID, "SOPInstanceUID"),
            (.contentDate, "ContentDate"),
            (.contentTime, "ContentTime"),
            (.codeValue, "CodeValue"),
            (.codingSchemeDesignator, "CodingSchemeDesignator"),
            (.codeMeaning, "CodeMeaning"),
            (.mappingResource, "MappingResource"),
            (.longCodeValue, "LongCodeValue"),
            (.urnCodeValue, "URNCodeValue"),
            (.studiesContainingOtherReferencedInstancesSequence, "StudiesContainingOtherReferencedInstancesSequence"),
            (.patientName, "PatientName"),
            (.patientID, "PatientID"),
            (.issuerOfPatientID, "IssuerOfPatientID"),
            (.typeOfPatientID, "TypeOfPatientID"),
            (.issuerOfPatientIDQualifiersSequence, "IssuerOfPatientIDQualifiersSequence"),
            (.patientBirthDate, "PatientBirthDate"),
            (.patientSex, "PatientSex"),
            (.otherPatientIDs, "OtherPatientIDs"),
            (.otherPatientIDsSequence, "OtherPatientIDsSequence"),
            (.patientIdentityRemoved, "PatientIdentityRemoved"),
            (.deidentificationMethod, "DeidentificationMethod"),
            (.deidentificationMethodCodeSequence, "DeidentificationMethodCodeSequence"),
            (.pixelRepresentation, "PixelRepresentation"),
            (.universalEntityID, "UniversalEntityID"),
            (.universalEntityIDType, "UniversalEntityIDType"),
            (.measurementUnitsCodeSequence, "MeasurementUnitsCodeSequence"),
            (.relationshipType, "RelationshipType"),
            (.observationDateTime, "ObservationDateTime"),
            (.valueType, "ValueType"),
            (.conceptNameCodeSequence, "ConceptNameCodeSequence"),
            (.continuityOfContent, "ContinuityOfContent"),
            (.dateTime, "DateTime"),
            (.date, "Date"),
            (.textValue, "TextValue"),
            (.conceptCodeSequence, "ConceptCodeSequence"),
            (.measuredValueSequence, "MeasuredValueSequence"),
            (.numericValue, "NumericValue"),
            (.hl7StructuredDocumentReferenceSequence, "HL7StructuredDocumentReferenceSequence"),
            (.contentTemplateSequence, "ContentTemplateSequence"),
            (.contentSequence, "ContentSequence"),
            (.templateIdentifier, "TemplateIdentifier"),
            (.pixelData, "PixelData"),
        ]
        for (tag, keyword) in named {
            #expect(DataDictionary.entry(keyword: keyword)?.tag == tag, "\(keyword)")
        }
    }

    @Test func commandAndFileMetaElements() {
        #expect(DataDictionary.entry(for: Tag(0x0000_0100))?.keyword == "CommandField")
        #expect(DataDictionary.vr(for: Tag(0x0000_0100)) == .US)
        #expect(DataDictionary.entry(for: Tag(0x0000_0000))?.keyword == "CommandGroupLength")
        #expect(DataDictionary.entry(for: .transferSyntaxUID)?.keyword == "TransferSyntaxUID")
        #expect(DataDictionary.vr(for: .transferSyntaxUID) == .UI)
        #expect(DataDictionary.entry(for: Tag(0x0004_1220))?.vrs == [.SQ])
    }

    @Test func sequencesAndMultipleVRs() {
        let e = DataDictionary.entry(for: Tag(0x0040_A504))
        #expect(e?.keyword == "ContentTemplateSequence")
        #expect(e?.vrs == [.SQ])
        #expect(DataDictionary.entry(for: .pixelData)?.vrs == [.OB, .OW])
        #expect(DataDictionary.vr(for: .pixelData) == .OB)
        #expect(DataDictionary.entry(for: Tag(0x0028_0106))?.vrs == [.US, .SS])
        #expect(DataDictionary.entry(for: Tag(0x0028_3006))?.vrs == [.US, .OW])
    }

    @Test func itemsHaveNoVR() {
        #expect(DataDictionary.entry(for: .item)?.vrs == [])
        #expect(DataDictionary.entry(for: .sequenceDelimitation)?.keyword == "SequenceDelimitationItem")
        #expect(DataDictionary.vr(for: .item) == nil)
        #expect(DataDictionary.vr(for: .itemDelimitation) == nil)
    }

    @Test func repeatingGroups() throws {
        let overlay = try #require(DataDictionary.entry(for: Tag(0x6002_3000)))
        #expect(overlay.keyword == "OverlayData")
        #expect(overlay.vrs == [.OB, .OW])
        #expect(overlay.tag == Tag(0x6000_3000))
        #expect(overlay.repeatingGroupMask == 0xFF00_FFFF)
        #expect(DataDictionary.vr(for: Tag(0x601E_0010)) == .US)  // Overlay Rows
        #expect(DataDictionary.entry(for: Tag(0x5004_3000))?.keyword == "CurveData")
        #expect(DataDictionary.entry(for: Tag(0x7F02_0010))?.keyword == "VariablePixelData")
        #expect(DataDictionary.entry(for: Tag(0x0028_0410))?.keyword == "RowsForNthOrderCoefficients")
        // An exact entry wins over a repeating one.
        #expect(DataDictionary.entry(for: .pixelData)?.keyword == "PixelData")
        // Odd groups are private, not overlays.
        #expect(DataDictionary.entry(for: Tag(0x6001_3000)) == nil)
        #expect(DataDictionary.entry(keyword: "OverlayData")?.tag == Tag(0x6000_3000))
    }

    @Test func groupLength() throws {
        let e = try #require(DataDictionary.entry(for: Tag(0x0029_0000)))
        #expect(e.vrs == [.UL])
        #expect(e.tag == Tag(0x0029_0000))
        #expect(e.name == "Group Length")
        #expect(DataDictionary.vr(for: Tag(0x0029_0000)) == .UL)
        #expect(DataDictionary.vr(for: Tag(0x0008_0000)) == .UL)
        #expect(DataDictionary.vr(for: Tag(0x6000_0000)) == .UL)
        #expect(DataDictionary.entry(for: Tag(0x0002_0000))?.keyword == "FileMetaInformationGroupLength")
    }

    @Test func privateAndUnknownTags() {
        #expect(DataDictionary.entry(for: Tag(0x0029_0010)) == nil)
        #expect(DataDictionary.entry(for: Tag(0x0029_1010)) == nil)
        #expect(DataDictionary.vr(for: Tag(0x0029_1010)) == nil)
        #expect(DataDictionary.entry(for: Tag(0x0010_0001)) == nil)
        #expect(DataDictionary.vr(for: Tag(0xFFFF_FFFF)) == nil)
        #expect(DataDictionary.keyword(for: Tag(0x0009_0010)) == nil)
    }

    @Test func keywords() {
        #expect(DataDictionary.entry(keyword: "PatientID")?.tag == Tag(0x0010_0020))
        #expect(DataDictionary.entry(keyword: "PatientID")?.vrs == [.LO])
        #expect(DataDictionary.entry(keyword: "patientid") == nil)
        #expect(DataDictionary.entry(keyword: "") == nil)
        #expect(DataDictionary.entry(keyword: "NoSuchKeyword") == nil)
        #expect(Tag(parsing: "StudyInstanceUID") == Tag(0x0020_000D))
    }

    @Test func counts() {
        #expect(DataDictionary.count > 5000)
        #expect(DataDictionary.count == DataDictionary.exactCount + DataDictionary.repeatingGroupCount)
        #expect(DataDictionary.entries.count == DataDictionary.count)
        #expect(DataDictionary.source.contains("pydicom"))
        #expect(UIDRegistry.count > 400)
        #expect(UIDRegistry.entries.count == UIDRegistry.count)
    }

    @Test(.cpuHeavy) func everyEntryRoundTrips() {
        for e in DataDictionary.entries {
            if e.repeatingGroupMask == nil {
                #expect(DataDictionary.entry(for: e.tag) == e)
                #expect(DataDictionary.vr(for: e.tag) == e.vrs.first)
            }
            if !e.keyword.isEmpty {
                #expect(DataDictionary.entry(keyword: e.keyword) == e)
            }
        }
        for e in UIDRegistry.entries {
            #expect(UIDRegistry.entry(for: e.uid) == e)
        }
    }
}

@Suite("UIDRegistry")
struct UIDRegistryTests {
    @Test func lookups() throws {
        #expect(UIDRegistry.name(for: "1.2.840.10008.5.1.4.37.1") == "General Relevant Patient Information Query")
        let deflated = try #require(UIDRegistry.entry(for: "1.2.840.10008.1.2.1.99"))
        #expect(deflated.name == "Deflated Explicit VR Little Endian")
        #expect(deflated.type == "Transfer Syntax")
        #expect(deflated.keyword == "DeflatedExplicitVRLittleEndian")
        #expect(!deflated.isRetired)
        #expect(UIDRegistry.entry(for: "1.2.840.10008.1.2.2")?.isRetired == true)
        #expect(UIDRegistry.entry(keyword: "ExplicitVRLittleEndian")?.uid == "1.2.840.10008.1.2.1")
        #expect(UIDRegistry.entry(for: "1.2.840.10008.1.1")?.type == "SOP Class")
        #expect(UIDRegistry.entry(for: "1.2.3.4") == nil)
        #expect(UIDRegistry.name(for: "") == nil)
    }
}
