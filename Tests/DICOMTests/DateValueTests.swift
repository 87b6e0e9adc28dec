import DICOM
import Testing

@Suite("DA values")
struct DateValueTests {
    /// `DICOMText.isDate` as it was: through `Int(text)` and a table of month lengths.
    private static func reference(_ text: String) -> Bool {
        guard text.utf8.count == 8, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else { return false }
        let year = value / 10000, month = value / 100 % 100, day = value % 100
        guard year >= 1850, (1...12).contains(month), day >= 1 else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= days[month - 1]
    }

    @Test("isDate: eight ASCII digits naming a real day from 1850 on, leap years by the Gregorian rule")
    func isDate() {
        for text in ["20190101", "18500101", "20000229", "20240229", "99991231", "19991231"] {
            #expect(DICOMText.isDate(text), "\(text)")
        }
        for text in ["", "2019010", "201901011", "18491231", "19000229", "20190229", "20190431", "20190001", "20191301", "20190100",
                     "2019-1-01", "+2019010", " 2019010", "２０１９０１０１", "٢٠١٩٠١٠١", "2019010\u{301}", "00000000"] {
            #expect(!DICOMText.isDate(text), "\(text.debugDescription)")
        }
        var mismatches: [String] = []
        for year in [0, 1, 1000, 1849, 1850, 1851, 1896, 1900, 1904, 2000, 2023, 2024, 2100, 2400, 9999] {
            for month in 0...13 {
                for day in 0...32 {
                    let text = String(year * 10000 + month * 100 + day).leftPadded(8)
                    if DICOMText.isDate(text) != Self.reference(text) { mismatches.append(text) }
                }
            }
        }
        #expect(mismatches == [])
    }

    @Test("displayDate: a real day with dashes, anything else as written")
    func displayDate() {
        #expect(DICOMText.displayDate("20240115") == "2024-01-15")
        for text in ["", "2024011", "20241399", "2024-01-15", "19600231", "unknown"] {
            #expect(DICOMText.displayDate(text) == text)
        }
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }

    @Test("singleValueProblem: backslash, control characters and length by VR; LT keeps its line breaks; a PN by group")
    func singleValueProblem() {
        #expect(DICOMText.singleValueProblem("CT CHEST", vr: .LO) == nil)
        #expect(DICOMText.singleValueProblem("Chest\\PA", vr: .LO)?.hasPrefix("a backslash separates values") == true)
        #expect(DICOMText.singleValueProblem("a\\b", vr: .LT) == nil, "LT is one value: a backslash is text")
        #expect(DICOMText.singleValueProblem("two\r\nlines", vr: .LT) == nil)
        #expect(DICOMText.singleValueProblem("two\nlines", vr: .LO) == "control character U+000A is not allowed in LO")
        #expect(DICOMText.singleValueProblem("a\tb", vr: .ST) != nil)
        #expect(DICOMText.singleValueProblem("a\u{85}b", vr: .LT) == "control character U+0085 is not allowed in LT", "C1 too")
        #expect(DICOMText.singleValueProblem(String(repeating: "x", count: 16), vr: .SH) == nil)
        #expect(DICOMText.singleValueProblem(String(repeating: "x", count: 17), vr: .SH) == "at most 16 characters in SH (this has 17)")
        #expect(DICOMText.singleValueProblem(String(repeating: "山", count: 64), vr: .LO) == nil, "characters, not bytes")
        let group = String(repeating: "y", count: 64)
        #expect(DICOMText.singleValueProblem("\(group)=\(group)=\(group)", vr: .PN) == nil)
        #expect(DICOMText.singleValueProblem("\(group)y=a", vr: .PN)?.hasPrefix("a name's component group") == true)
    }
}
