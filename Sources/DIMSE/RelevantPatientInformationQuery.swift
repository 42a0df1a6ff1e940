/// The SOP classes of the Relevant Patient Information Query (PS3.4 Annex Q, Table Q.3-1) and the
/// statuses only they define.
public enum RelevantPatientInformationQuery {
    public static let general = "1.2.840.10008.5.1.4.37.1"
    public static let breastImaging = "1.2.840.10008.5.1.4.37.2"
    public static let cardiac = "1.2.840.10008.5.1.4.37.3"
    public static let sopClasses: Set<String> = [general, breastImaging, cardiac]
    /// Whether `uid` is one of `sopClasses`, by three string comparisons instead of hashing
    /// the UID (the observer and the status lookup ask for every C-FIND exchange).
    public static func isSOPClass(_ uid: String) -> Bool { uid == general || uid == breastImaging || uid == cardiac }

    /// Failure statuses of the Relevant Patient Information Query C-FIND (PS3.4 Table Q.2-1).
    public enum Status {
        /// C100H Failed: more than one match found.
        public static let moreThanOneMatch: UInt16 = 0xC100
        /// C200H Failed: unable to support requested template.
        public static let unableToSupportRequestedTemplate: UInt16 = 0xC200
    }
}
