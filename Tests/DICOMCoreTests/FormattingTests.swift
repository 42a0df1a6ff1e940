import Testing
@testable import DICOMCore

@Suite("Formatting")
struct FormattingTests {
    @Test func hexDigits() {
        #expect(hex4(0x0900) == "0900")
        #expect(hex4(0xFE0A) == "FE0A")
        #expect(hex2(0x0A) == "0A")
        #expect(hex2(0xAB, uppercase: false) == "ab")
        #expect(hex(0x1A, width: 4, uppercase: false) == "001a")
        #expect(hex(0x12345, width: 4) == "12345")
    }

    @Test func sixDecimalSeconds() {
        #expect(secondsText(microseconds: 12_000_345) == "12.000345")
        #expect(secondsText(microseconds: 0) == "0.000000")
        #expect(secondsText(1.9999996) == "2.000000")
        #expect(secondsText(0.25) == "0.250000")
    }
}
