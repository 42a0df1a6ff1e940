/// Attributes the libraries read or write by name (PS3.6 Table 6-1), in tag order; any other
/// attribute is looked up in the generated `DataDictionary`.
extension Tag {
    /// (0002,0010) Transfer Syntax UID.
    public static let transferSyntaxUID = Tag(0x0002_0010)
    /// (0008,0005) Specific Character Set.
    public static let specificCharacterSet = Tag(0x0008_0005)
    /// (0008,0018) SOP Instance UID.
    public static let sopInstanceUID = Tag(0x0008_0018)
    /// (0008,0023) Content Date.
    public static let contentDate = Tag(0x0008_0023)
    /// (0008,0033) Content Time.
    public static let contentTime = Tag(0x0008_0033)
    /// (0008,0100) Code Value.
    public static let codeValue = Tag(0x0008_0100)
    /// (0008,0102) Coding Scheme Designator.
    public static let codingSchemeDesignator = Tag(0x0008_0102)
    /// (0008,0104) Code Meaning.
    public static let codeMeaning = Tag(0x0008_0104)
    /// (0008,0105) Mapping Resource.
    public static let mappingResource = Tag(0x0008_0105)
    /// (0008,0119) Long Code Value.
    public static let longCodeValue = Tag(0x0008_0119)
    /// (0008,0120) URN Code Value.
    public static let urnCodeValue = Tag(0x0008_0120)
    /// (0008,1200) Studies Containing Other Referenced Instances Sequence.
    public static let studiesContainingOtherReferencedInstancesSequence = Tag(0x0008_1200)
    /// (0010,0010) Patient's Name.
    public static let patientName = Tag(0x0010_0010)
    /// (0010,0020) Patient ID.
    public static let patientID = Tag(0x0010_0020)
    /// (0010,0021) Issuer of Patient ID.
    public static let issuerOfPatientID = Tag(0x0010_0021)
    /// (0010,0022) Type of Patient ID.
    public static let typeOfPatientID = Tag(0x0010_0022)
    /// (0010,0024) Issuer of Patient ID Qualifiers Sequence.
    public static let issuerOfPatientIDQualifiersSequence = Tag(0x0010_0024)
    /// (0010,0030) Patient's Birth Date.
    public static let patientBirthDate = Tag(0x0010_0030)
    /// (0010,0040) Patient's Sex.
    public static let patientSex = Tag(0x0010_0040)
    /// (0010,1000) Other Patient IDs.
    public static let otherPatientIDs = Tag(0x0010_1000)
    /// (0010,1002) Other Patient IDs Sequence.
    public static let otherPatientIDsSequence = Tag(0x0010_1002)
    /// (0012,0062) Patient Identity Removed.
    public static let patientIdentityRemoved = Tag(0x0012_0062)
    /// (0012,0063) De-identification Method.
    public static let deidentificationMethod = Tag(0x0012_0063)
    /// (0012,0064) De-identification Method Code Sequence.
    public static let deidentificationMethodCodeSequence = Tag(0x0012_0064)
    /// (0028,0103) Pixel Representation.
    public static let pixelRepresentation = Tag(0x0028_0103)
    /// (0040,0032) Universal Entity ID.
    public static let universalEntityID = Tag(0x0040_0032)
    /// (0040,0033) Universal Entity ID Type.
    public static let universalEntityIDType = Tag(0x0040_0033)
    /// (0040,08EA) Measurement Units Code Sequence.
    public static let measurementUnitsCodeSequence = Tag(0x0040_08EA)
    /// (0040,A010) Relationship Type.
    public static let relationshipType = Tag(0x0040_A010)
    /// (0040,A032) Observation DateTime.
    public static let observationDateTime = Tag(0x0040_A032)
    /// (0040,A040) Value Type.
    public static let valueType = Tag(0x0040_A040)
    /// (0040,A043) Concept Name Code Sequence.
    public static let conceptNameCodeSequence = Tag(0x0040_A043)
    /// (0040,A050) Continuity Of Content.
    public static let continuityOfContent = Tag(0x0040_A050)
    /// (0040,A120) DateTime.
    public static let dateTime = Tag(0x0040_A120)
    /// (0040,A121) Date.
    public static let date = Tag(0x0040_A121)
    /// (0040,A160) Text Value.
    public static let textValue = Tag(0x0040_A160)
    /// (0040,A168) Concept Code Sequence.
    public static let conceptCodeSequence = Tag(0x0040_A168)
    /// (0040,A300) Measured Value Sequence.
    public static let measuredValueSequence = Tag(0x0040_A300)
    /// (0040,A30A) Numeric Value.
    public static let numericValue = Tag(0x0040_A30A)
    /// (0040,A390) HL7 Structured Document Reference Sequence.
    public static let hl7StructuredDocumentReferenceSequence = Tag(0x0040_A390)
    /// (0040,A504) Content Template Sequence.
    public static let contentTemplateSequence = Tag(0x0040_A504)
    /// (0040,A730) Content Sequence.
    public static let contentSequence = Tag(0x0040_A730)
    /// (0040,DB00) Template Identifier.
    public static let templateIdentifier = Tag(0x0040_DB00)
    /// (7FE0,0010) Pixel Data.
    public static let pixelData = Tag(0x7FE0_0010)
}
