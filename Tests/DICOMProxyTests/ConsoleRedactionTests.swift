import DICOMInspect
import Testing
@testable import DICOMProxy

/// `--redact-identifiers`: values a finding quotes are not shown on the console.
struct ConsoleRedactionTests {
    @Test func quotedValuesAreRedacted() {
        let message = "(0010,0020) PatientID '1234567' from the SCP is not a value this proxy issued; passed through unchanged"
        #expect(redactingQuotedValues(message)
                == "(0010,0020) PatientID '(redacted)' from the SCP is not a value this proxy issued; passed through unchanged")
        #expect(redactingQuotedValues("no values here") == "no values here")
        #expect(redactingQuotedValues("a 'b' c 'd") == "a '(redacted)' c '", "an unclosed quote hides the rest")
    }
}
