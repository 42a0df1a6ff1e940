/// Metadata keys of DICOMTap's log messages, shared by the proxy and our SCP (the console
/// shows the association's number before each line).
public enum DICOMLogKey {
    /// The association a message is about: its number within this run, e.g. `0007`.
    public static let associationID = "dicom.association_id"

    /// `0007`: an association's number as the logs show it.
    public static func number(_ n: Int) -> String {
        let digits = String(n)
        return digits.count >= 4 ? digits : String(repeating: "0", count: 4 - digits.count) + digits
    }
}
