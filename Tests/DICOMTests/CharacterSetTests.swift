import Foundation
import Testing

@testable import DICOM

/// Bytes from a hex string: "1B 24 42" → [0x1B, 0x24, 0x42].
private func hex(_ text: String) -> [UInt8] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt8($0, radix: 16)! }
}

private func charset(_ terms: String) throws -> SpecificCharacterSet {
    try SpecificCharacterSet(terms: terms.split(separator: "\\", omittingEmptySubsequences: false).map(String.init))
}

/// Drops trailing SPACE padding, as a reader does before decoding.
private func unpadded(_ bytes: [UInt8]) -> [UInt8] {
    var bytes = bytes
    while bytes.last == 0x20 { bytes.removeLast() }
    return bytes
}

// MARK: - Golden examples of PS3.5 Annexes H, I, J, K (both directions)

struct CharsetGoldenExample: Sendable, CustomTestStringConvertible {
    let name: String
    let terms: String
    let vr: VR
    let text: String
    let bytes: String

    var testDescription: String { name }
}

private let goldenExamples: [CharsetGoldenExample] = [
    CharsetGoldenExample(
        name: "H.3.1 \\ISO 2022 IR 87", terms: "\\ISO 2022 IR 87", vr: .PN,
        text: "Yamada^Tarou=山田^太郎=やまだ^たろう",
        bytes: """
            59 61 6D 61 64 61 5E 54 61 72 6F 75 3D 1B 24 42 3B 33 45 44 1B 28 42 5E 1B 24 42 42 40 4F 3A 1B 28 42 3D \
            1B 24 42 24 64 24 5E 24 40 1B 28 42 5E 1B 24 42 24 3F 24 6D 24 26 1B 28 42
            """),
    CharsetGoldenExample(
        name: "H.3.2 ISO 2022 IR 13\\ISO 2022 IR 87", terms: "ISO 2022 IR 13\\ISO 2022 IR 87", vr: .PN,
        text: "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
        bytes: """
            D4 CF C0 DE 5E C0 DB B3 3D 1B 24 42 3B 33 45 44 1B 28 4A 5E 1B 24 42 42 40 4F 3A 1B 28 4A 3D \
            1B 24 42 24 64 24 5E 24 40 1B 28 4A 5E 1B 24 42 24 3F 24 6D 24 26 1B 28 4A
            """),
    CharsetGoldenExample(
        name: "Annex I \\ISO 2022 IR 149 PN", terms: "\\ISO 2022 IR 149", vr: .PN,
        text: "Hong^Gildong=洪^吉洞=홍^길동",
        bytes: """
            48 6F 6E 67 5E 47 69 6C 64 6F 6E 67 3D 1B 24 29 43 FB F3 5E 1B 24 29 43 D1 CE D4 D7 3D \
            1B 24 29 43 C8 AB 5E 1B 24 29 43 B1 E6 B5 BF
            """),
    CharsetGoldenExample(
        name: "Annex I \\ISO 2022 IR 149 LT", terms: "\\ISO 2022 IR 149", vr: .LT,
        text: "The 1st line includes 길동.\r\nThe 2nd line includes 길동, too.\r\nThe 3rd line.",
        bytes: """
            1B 24 29 43 54 68 65 20 31 73 74 20 6C 69 6E 65 20 69 6E 63 6C 75 64 65 73 20 B1 E6 B5 BF 2E 0D 0A \
            1B 24 29 43 54 68 65 20 32 6E 64 20 6C 69 6E 65 20 69 6E 63 6C 75 64 65 73 20 B1 E6 B5 BF 2C 20 74 6F 6F 2E 0D 0A \
            54 68 65 20 33 72 64 20 6C 69 6E 65 2E
            """),
    CharsetGoldenExample(
        name: "Annex J ISO_IR 192 PN", terms: "ISO_IR 192", vr: .PN,
        text: "Wang^XiaoDong=王^小東=",
        bytes: "57 61 6E 67 5E 58 69 61 6F 44 6F 6E 67 3D E7 8E 8B 5E E5 B0 8F E6 9D B1 3D"),
    CharsetGoldenExample(
        name: "Annex J ISO_IR 192 LT", terms: "ISO_IR 192", vr: .LT,
        text: "The first line includes中文.\r\nThe second line includes中文, too.\r\nThe third line.\r\n",
        bytes: """
            54 68 65 20 66 69 72 73 74 20 6C 69 6E 65 20 69 6E 63 6C 75 64 65 73 E4 B8 AD E6 96 87 2E 0D 0A \
            54 68 65 20 73 65 63 6F 6E 64 20 6C 69 6E 65 20 69 6E 63 6C 75 64 65 73 E4 B8 AD E6 96 87 2C 20 74 6F 6F 2E 0D 0A \
            54 68 65 20 74 68 69 72 64 20 6C 69 6E 65 2E 0D 0A
            """),
    CharsetGoldenExample(
        name: "Annex J GB18030 PN", terms: "GB18030", vr: .PN,
        text: "Wang^XiaoDong=王^小东=",
        bytes: "57 61 6E 67 5E 58 69 61 6F 44 6F 6E 67 3D CD F5 5E D0 A1 B6 AB 3D"),
    CharsetGoldenExample(
        name: "Annex J GB18030 LT", terms: "GB18030", vr: .LT,
        text: "The first line includes中文.\r\nThe second line includes中文, too.\r\nThe third line.\r\n",
        bytes: """
            54 68 65 20 66 69 72 73 74 20 6C 69 6E 65 20 69 6E 63 6C 75 64 65 73 D6 D0 CE C4 2E 0D 0A \
            54 68 65 20 73 65 63 6F 6E 64 20 6C 69 6E 65 20 69 6E 63 6C 75 64 65 73 D6 D0 CE C4 2C 20 74 6F 6F 2E 0D 0A \
            54 68 65 20 74 68 69 72 64 20 6C 69 6E 65 2E 0D 0A
            """),
    CharsetGoldenExample(
        name: "GBK PN", terms: "GBK", vr: .PN,
        text: "Wang^XiaoDong=王^小东=",
        bytes: "57 61 6E 67 5E 58 69 61 6F 44 6F 6E 67 3D CD F5 5E D0 A1 B6 AB 3D"),
    CharsetGoldenExample(
        name: "Annex K \\ISO 2022 IR 58 PN", terms: "\\ISO 2022 IR 58", vr: .PN,
        text: "Zhang^XiaoDong=张^小东=",
        bytes: "5A 68 61 6E 67 5E 58 69 61 6F 44 6F 6E 67 3D 1B 24 29 41 D5 C5 5E 1B 24 29 41 D0 A1 B6 AB 3D"),
    CharsetGoldenExample(
        name: "Annex K \\ISO 2022 IR 58 LT", terms: "\\ISO 2022 IR 58", vr: .LT,
        text: "1.第一行文字。\r\n2.第二行文字。\r\n3.第三行文字。\r\n",
        bytes: """
            31 2E 1B 24 29 41 B5 DA D2 BB D0 D0 CE C4 D7 D6 A1 A3 0D 0A \
            32 2E 1B 24 29 41 B5 DA B6 FE D0 D0 CE C4 D7 D6 A1 A3 0D 0A \
            33 2E 1B 24 29 41 B5 DA C8 FD D0 D0 CE C4 D7 D6 A1 A3 0D 0A
            """),
]

// MARK: - Single-byte samples

struct CharsetSingleByteSample: Sendable, CustomTestStringConvertible {
    let term: String
    let text: String
    let bytes: String
    var testDescription: String { term }
}

private let singleByteSamples: [CharsetSingleByteSample] = [
    CharsetSingleByteSample(term: "ISO_IR 100", text: "Äneas^Rüdiger", bytes: "C4 6E 65 61 73 5E 52 FC 64 69 67 65 72"),
    CharsetSingleByteSample(term: "ISO_IR 100", text: "Buc^Jérôme", bytes: "42 75 63 5E 4A E9 72 F4 6D 65"),
    CharsetSingleByteSample(term: "ISO_IR 101", text: "Wałęsa", bytes: "57 61 B3 EA 73 61"),
    CharsetSingleByteSample(term: "ISO_IR 109", text: "antaŭnomo", bytes: "61 6E 74 61 FD 6E 6F 6D 6F"),
    CharsetSingleByteSample(term: "ISO_IR 110", text: "vārds", bytes: "76 E0 72 64 73"),
    CharsetSingleByteSample(term: "ISO_IR 144", text: "Люкceмбypг", bytes: "BB EE DA 63 65 DC D1 79 70 D3"),
    CharsetSingleByteSample(term: "ISO_IR 127", text: "قباني^لنزار", bytes: "E2 C8 C7 E6 EA 5E E4 E6 D2 C7 D1"),
    CharsetSingleByteSample(term: "ISO_IR 126", text: "Διονυσιος", bytes: "C4 E9 EF ED F5 F3 E9 EF F2"),
    CharsetSingleByteSample(term: "ISO_IR 138", text: "שרון^דבורה", bytes: "F9 F8 E5 EF 5E E3 E1 E5 F8 E4"),
    CharsetSingleByteSample(term: "ISO_IR 148", text: "Çavuşoğlu", bytes: "C7 61 76 75 FE 6F F0 6C 75"),
    CharsetSingleByteSample(term: "ISO_IR 203", text: "Çavuþoðlu", bytes: "C7 61 76 75 FE 6F F0 6C 75"),
    CharsetSingleByteSample(term: "ISO_IR 166", text: "นามสกุล", bytes: "B9 D2 C1 CA A1 D8 C5"),
    CharsetSingleByteSample(term: "ISO_IR 13", text: "ﾔﾏﾀﾞ^ﾀﾛｳ", bytes: "D4 CF C0 DE 5E C0 DB B3"),
]

// MARK: - pydicom's charset test files

/// The raw value bytes and pydicom 3.0's decoded value of the character set
/// test files shipped with pydicom (`pydicom/data/charset_files`).
struct CharsetPydicomSample: Sendable, CustomTestStringConvertible {
    let file: String
    let terms: [String]
    let vr: VR
    let bytes: String
    let values: [String]
    /// Whether this encoder writes exactly the file's bytes (padding aside).
    let sameEncoding: Bool
    var testDescription: String { file }
}

private let pydicomSamples: [CharsetPydicomSample] = [
    CharsetPydicomSample(
        file: "chrArab.dcm", terms: ["ISO_IR 127"], vr: .PN, bytes: "e2 c8 c7 e6 ea 5e e4 e6 d2 c7 d1 20",
        values: ["قباني^لنزار"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrFren.dcm", terms: ["ISO_IR 100"], vr: .PN, bytes: "42 75 63 5e 4a e9 72 f4 6d 65",
        values: ["Buc^Jérôme"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrFrenMulti.dcm", terms: ["ISO_IR 100"], vr: .PN,
        bytes: "42 75 63 5e 4a e9 72 f4 6d 65 5c 42 75 63 5e 4a e9 72 f4 6d 65 20",
        values: ["Buc^Jérôme", "Buc^Jérôme"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrGerm.dcm", terms: ["ISO_IR 100"], vr: .PN, bytes: "c4 6e 65 61 73 5e 52 fc 64 69 67 65 72 20",
        values: ["Äneas^Rüdiger"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrGreek.dcm", terms: ["ISO_IR 126"], vr: .PN, bytes: "c4 e9 ef ed f5 f3 e9 ef f2 20",
        values: ["Διονυσιος"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrH31.dcm", terms: ["", "ISO 2022 IR 87"], vr: .PN,
        bytes: """
            59 61 6d 61 64 61 5e 54 61 72 6f 75 3d 1b 24 42 3b 33 45 44 1b 28 42 5e 1b 24 42 42 40 4f 3a 1b 28 42 3d \
            1b 24 42 24 64 24 5e 24 40 1b 28 42 5e 1b 24 42 24 3f 24 6d 24 26 1b 28 42
            """,
        values: ["Yamada^Tarou=山田^太郎=やまだ^たろう"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrH32.dcm", terms: ["ISO 2022 IR 13", "ISO 2022 IR 87"], vr: .PN,
        bytes: """
            d4 cf c0 de 5e c0 db b3 3d 1b 24 42 3b 33 45 44 1b 28 4a 5e 1b 24 42 42 40 4f 3a 1b 28 4a 3d \
            1b 24 42 24 64 24 5e 24 40 1b 28 4a 5e 1b 24 42 24 3f 24 6d 24 26 1b 28 4a
            """,
        values: ["ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrHbrw.dcm", terms: ["ISO_IR 138"], vr: .PN, bytes: "f9 f8 e5 ef 5e e3 e1 e5 f8 e4",
        values: ["שרון^דבורה"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrI2.dcm", terms: ["", "ISO 2022 IR 149"], vr: .PN,
        bytes: """
            48 6f 6e 67 5e 47 69 6c 64 6f 6e 67 3d 1b 24 29 43 fb f3 5e 1b 24 29 43 d1 ce d4 d7 3d \
            1b 24 29 43 c8 ab 5e 1b 24 29 43 b1 e6 b5 bf
            """,
        values: ["Hong^Gildong=洪^吉洞=홍^길동"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrJapMulti.dcm (0010,0010)", terms: ["", "ISO 2022 IR 87"], vr: .PN,
        bytes: "1b 24 42 24 64 24 5e 24 40 1b 28 42 5e 1b 24 42 24 3f 24 6d 24 26 1b 28 42 20",
        values: ["やまだ^たろう"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrJapMulti.dcm (0010,1001)", terms: ["", "ISO 2022 IR 87"], vr: .PN,
        bytes: """
            1b 24 42 24 64 24 5e 24 40 1b 28 42 5e 1b 24 42 24 3f 24 6d 24 26 1b 28 42 5c \
            1b 24 42 24 64 24 5e 24 40 1b 28 42 5e 1b 24 42 24 3f 24 6d 24 26 1b 28 42 20
            """,
        values: ["やまだ^たろう", "やまだ^たろう"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrJapMulti.dcm (0010,21B0)", terms: ["", "ISO 2022 IR 87"], vr: .LT,
        bytes: "1b 24 42 24 3f 24 6d 24 26 1b 28 42", values: ["たろう"], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrJapMultiExplicitIR6.dcm", terms: ["ISO 2022 IR 6", "ISO 2022 IR 87"], vr: .PN,
        bytes: """
            1b 24 42 24 64 24 5e 24 40 1b 28 42 5e 1b 24 42 24 3f 24 6d 24 26 1b 28 42 5c \
            1b 24 42 24 64 24 5e 24 40 1b 28 42 5e 1b 24 42 24 3f 24 6d 24 26 1b 28 42 20
            """,
        values: ["やまだ^たろう", "やまだ^たろう"], sameEncoding: true),
    // pydicom's file ends each value with a redundant ESC ( B; this encoder
    // does not write it (G0 never left ASCII).
    CharsetPydicomSample(
        file: "chrKoreanMulti.dcm (0010,1001)", terms: ["", "ISO 2022 IR 149"], vr: .PN,
        bytes: """
            1b 24 29 43 b1 e8 c8 f1 c1 df 1b 28 42 5c 1b 24 29 43 b1 e8 c8 f1 c1 df 1b 28 42 20
            """,
        values: ["김희중", "김희중"], sameEncoding: false),
    CharsetPydicomSample(
        file: "chrKoreanMulti.dcm (0010,21B0)", terms: ["", "ISO 2022 IR 149"], vr: .LT,
        bytes: "1b 24 29 43 b1 e8 c8 f1 c1 df 1b 28 42 20", values: ["김희중"], sameEncoding: false),
    CharsetPydicomSample(
        file: "chrRuss.dcm", terms: ["ISO_IR 144"], vr: .PN, bytes: "bb ee da 63 65 dc d1 79 70 d3",
        values: ["Люкceмбypг"], sameEncoding: true),
    // The item's own (0008,0005); it returns to ASCII with ESC ( B, this
    // encoder to the initial JIS X 0201 Romaji with ESC ( J.
    CharsetPydicomSample(
        file: "chrSQEncoding1.dcm item", terms: ["ISO 2022 IR 13", "ISO 2022 IR 87"], vr: .PN,
        bytes: """
            d4 cf c0 de 5e c0 db b3 3d 1b 24 42 3b 33 45 44 1b 28 42 5e 1b 24 42 42 40 4f 3a 1b 28 42 3d \
            1b 24 42 24 64 24 5e 24 40 1b 28 42 5e 1b 24 42 24 3f 24 6d 24 26 1b 28 42
            """,
        values: ["ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"], sameEncoding: false),
    CharsetPydicomSample(
        file: "chrX1.dcm", terms: ["ISO_IR 192"], vr: .PN,
        bytes: "57 61 6e 67 5e 58 69 61 6f 44 6f 6e 67 3d e7 8e 8b 5e e5 b0 8f e6 9d b1 3d 20",
        values: ["Wang^XiaoDong=王^小東="], sameEncoding: true),
    CharsetPydicomSample(
        file: "chrX2.dcm", terms: ["GB18030"], vr: .PN,
        bytes: "57 61 6e 67 5e 58 69 61 6f 44 6f 6e 67 3d cd f5 5e d0 a1 b6 ab 3d",
        values: ["Wang^XiaoDong=王^小东="], sameEncoding: true),
]

// MARK: - Tests

@Suite("Specific Character Set")
struct CharacterSetTests {
    @Test("Annex examples decode byte for byte", arguments: goldenExamples)
    func goldenDecode(_ example: CharsetGoldenExample) throws {
        let set = try charset(example.terms)
        #expect(try set.decode(hex(example.bytes), vr: example.vr) == example.text)
        let lossy = set.decodeLossy(hex(example.bytes), vr: example.vr)
        #expect(lossy.text == example.text)
        #expect(lossy.problems.isEmpty)
    }

    @Test("Annex examples encode byte for byte", arguments: goldenExamples)
    func goldenEncode(_ example: CharsetGoldenExample) throws {
        let set = try charset(example.terms)
        #expect(try set.encode(example.text, vr: example.vr) == hex(example.bytes))
    }

    @Test("a term ignored beside a stand-alone set is a forbidden combination, not an unknown term")
    func ignoredTermProblems() {
        let mixed = SpecificCharacterSet(lenientTerms: ["ISO_IR 192", "ISO 2022 IR 87"])
        #expect(mixed.canonicalTerms == ["ISO_IR 192"])
        #expect(mixed.ignoredTermProblems == [.invalidCombination(["ISO_IR 192", "ISO 2022 IR 87"])])
        #expect(SpecificCharacterSet(lenientTerms: ["ISO_IR 999"]).ignoredTermProblems == [.unknownTerm("ISO_IR 999")])
        #expect(SpecificCharacterSet(lenientTerms: ["ISO_IR100"]).ignoredTermProblems.isEmpty, "a misspelling read as the term")
    }

    @Test("textProblems finds undecodable values in items too, with their paths, and ignored terms")
    func textProblemsOfADataset() throws {
        let item = Dataset([DataElement(tag: Tag(0x0008, 0x0104), vr: .LO, bytes: Data([0x41, 0xA1]))])
        let dataset = Dataset([
            DataElement(tag: .specificCharacterSet, vr: .CS, bytes: Data("ISO_IR 127\\ISO_IR 192".utf8)),
            DataElement(tag: Tag(0x0008, 0x1032), vr: .SQ, value: .sequence([item]), hasUndefinedLength: true),
            DataElement(tag: Tag(0x0020, 0x4000), vr: .LT, bytes: Data([0x41, 0x42])),
        ])
        let found = dataset.textProblems()
        #expect(found.map(\.path) == [[.specificCharacterSet], [Tag(0x0008, 0x1032), Tag(0x0008, 0x0104)]])
        #expect(found.first?.problem == .invalidCombination(["ISO_IR 127", "ISO_IR 192"]))
    }

    @Test func annexExamplesWithTheirPadding() throws {
        // The Annex K PN example as printed ends with its SPACE pad; the reader strips it.
        let bytes = hex("5A 68 61 6E 67 5E 58 69 61 6F 44 6F 6E 67 3D 1B 24 29 41 D5 C5 5E 1B 24 29 41 D0 A1 B6 AB 3D 20")
        let set = try charset("\\ISO 2022 IR 58")
        #expect(try set.decode(bytes, vr: .PN) == "Zhang^XiaoDong=张^小东= ")
        #expect(try set.decode(unpadded(bytes), vr: .PN) == "Zhang^XiaoDong=张^小东=")
        #expect(PersonName(try set.decode(bytes, vr: .PN)).dicomForm == "Zhang^XiaoDong=张^小东")
    }

    @Test func yenByteInsideKanjiIsNotADelimiter() throws {
        // 本 is 0x4B 0x5C in JIS X 0208.
        let set = try charset("\\ISO 2022 IR 87")
        let bytes = hex("1B 24 42 3B 33 4B 5C 1B 28 42")
        for vr in [VR.PN, .LO, .SH, .LT] {
            #expect(try set.decode(bytes, vr: vr) == "山本")
            #expect(try set.decodeValues(bytes, vr: vr) == ["山本"])
        }
        #expect(try set.encode("山本", vr: .PN) == bytes)

        // Two values, each ending its kanji run before the delimiter.
        let two = try set.encode(values: ["山本^花子", "本田"], vr: .PN)
        #expect(two == hex("1B 24 42 3B 33 4B 5C 1B 28 42 5E 1B 24 42 32 56 3B 52 1B 28 42 5C 1B 24 42 4B 5C 45 44 1B 28 42"))
        #expect(try set.decodeValues(two, vr: .PN) == ["山本^花子", "本田"])
        #expect(try set.decodeValues(two, vr: .LT) == ["山本^花子\\本田"])
    }

    @Test func jisRomanYenAndOverline() throws {
        let set = try charset("\\ISO 2022 IR 13")
        // ESC ( J: 0x5C is ¥ and 0x7E is ‾ in single-valued text.
        #expect(try set.decode(hex("1B 28 4A 31 30 30 5C 7E 1B 28 42"), vr: .LT) == "100¥‾")
        // In multi-valued VRs 0x5C is the value delimiter.
        #expect(try set.decodeValues(hex("1B 28 4A 41 5C 42 7E"), vr: .LO) == ["A", "B~"])
        #expect(try set.decodeValues(hex("1B 28 4A 41 7E 5C 42 7E"), vr: .LO) == ["A‾", "B~"])
        // ISO_IR 13 alone: G0 is JIS X 0201 Romaji, G1 Katakana.
        let ir13 = try charset("ISO_IR 13")
        #expect(try ir13.decode(hex("D4 CF C0 DE 5E C0 DB B3"), vr: .PN) == "ﾔﾏﾀﾞ^ﾀﾛｳ")
        #expect(try ir13.decode(hex("A6 DD DF 5C 7E"), vr: .LT) == "ｦﾝﾟ¥‾")
        #expect(try ir13.decode(hex("A6 DD DF 5C 7E"), vr: .LO) == "ｦﾝﾟ\\‾")
        #expect(try ir13.encode("ｦﾝﾟ¥‾", vr: .LT) == hex("A6 DD DF 5C 7E"))
        // ~ is not in JIS X 0201 Romaji and ISO_IR 13 has no code extensions.
        #expect(throws: CharacterSetError.unencodable(character: "~", terms: ["ISO_IR 13"])) {
            try ir13.encode("A~", vr: .LO)
        }
        // With code extensions, ASCII is designated for it.
        let h32 = try charset("ISO 2022 IR 13\\ISO 2022 IR 87")
        #expect(try h32.encode("A~B", vr: .LO) == hex("41 1B 28 42 7E 42 1B 28 4A"))
        #expect(try h32.decode(hex("41 1B 28 42 7E 42 1B 28 4A"), vr: .LO) == "A~B")
        #expect(try h32.encode("C:\\dir", vr: .LT) == hex("43 3A 1B 28 42 5C 64 69 72 1B 28 4A"))
    }

    @Test func shiftJISMislabelledAsISO2022IsReported() throws {
        let set = try charset("\\ISO 2022 IR 87")
        // 山田 in Shift_JIS: 8E 52 93 63.
        let bytes = hex("8E 52 93 63")
        #expect(throws: CharacterSetError.undecodable(byteOffset: 0, term: "ISO 2022 IR 6")) {
            try set.decode(bytes, vr: .PN)
        }
        let lossy = set.decodeLossy(bytes, vr: .PN)
        #expect(lossy.text == "\u{FFFD}R\u{FFFD}c")
        #expect(lossy.problems.map(\.byteOffset) == [0, 2])

        // Also with JIS X 0201 in G1: Shift_JIS lead bytes are not katakana.
        let h32 = try charset("ISO 2022 IR 13\\ISO 2022 IR 87")
        #expect(throws: CharacterSetError.undecodable(byteOffset: 2, term: "ISO 2022 IR 13")) {
            try h32.decode(hex("41 42 8E 52"), vr: .PN)
        }
        #expect(throws: CharacterSetError.undecodable(byteOffset: 0, term: "ISO 2022 IR 13")) {
            try h32.decode(hex("E0 40"), vr: .LO)
        }
    }

    @Test func questionMarkGroupsStayAsTheyAre() throws {
        let set = try charset("\\ISO 2022 IR 87")
        let text = "Yamada^Tarou=???^???=やまだ^たろう"
        let bytes = try set.encode(text, vr: .PN)
        #expect(try set.decode(bytes, vr: .PN) == text)
        let name = PersonName(text)
        #expect(name.ideographic == "???^???")
        #expect(name[components: .ideographic].family == "???")
        #expect(name.dicomForm == text)
        #expect(PersonName("?=?").dicomForm == "?=?")
    }

    @Test func characterOutsideJISX0208() throws {
        let text = "Yoshida^Hanako=𠮷田^花子=ヨシダ^ハナコ"
        let utf8 = try charset("ISO_IR 192")
        let bytes = try utf8.encode(text, vr: .PN)
        #expect(bytes == hex("""
            59 6F 73 68 69 64 61 5E 48 61 6E 61 6B 6F 3D F0 A0 AE B7 E7 94 B0 5E E8 8A B1 E5 AD 90 3D \
            E3 83 A8 E3 82 B7 E3 83 80 5E E3 83 8F E3 83 8A E3 82 B3
            """))
        #expect(try utf8.decode(bytes, vr: .PN) == text)
        #expect(throws: CharacterSetError.unencodable(character: "𠮷", terms: ["", "ISO 2022 IR 87"])) {
            try charset("\\ISO 2022 IR 87").encode(text, vr: .PN)
        }
        #expect(SpecificCharacterSet.suitable(for: [text]).canonicalTerms == ["ISO_IR 192"])
    }

    @Test func jisX0212() throws {
        let set = try charset("\\ISO 2022 IR 87\\ISO 2022 IR 159")
        let bytes = hex("1B 24 28 44 57 5A 61 4F 1B 28 42")
        #expect(try set.decode(bytes, vr: .LO) == "苷逘")
        #expect(try set.encode("苷逘", vr: .LO) == bytes)
        // JIS X 0208 is declared first and preferred where both have a character.
        #expect(try set.encode("山苷", vr: .LO) == hex("1B 24 42 3B 33 1B 24 28 44 57 5A 1B 28 42"))
    }

    @Test func decomposedKanaAreComposedForEncoding() throws {
        let set = try charset("\\ISO 2022 IR 87")
        // か + COMBINING KATAKANA-HIRAGANA VOICED SOUND MARK → が (0x242C).
        #expect(try set.encode("か\u{3099}", vr: .PN) == hex("1B 24 42 24 2C 1B 28 42"))
    }

    @Test func vendorExtensionsDecodeButAreNotEncoded() throws {
        let set = try charset("\\ISO 2022 IR 87")
        // NEC row 13: ① at 0x2D21.
        #expect(try set.decode(hex("1B 24 42 2D 21 1B 28 42"), vr: .LO) == "①")
        #expect(throws: CharacterSetError.unencodable(character: "①", terms: ["", "ISO 2022 IR 87"])) {
            try set.encode("①", vr: .LO)
        }
        // An unassigned JIS X 0208 position is reported.
        #expect(throws: CharacterSetError.undecodable(byteOffset: 3, term: "ISO 2022 IR 87")) {
            try set.decode(hex("1B 24 42 22 2F 1B 28 42"), vr: .LO)
        }
    }

    @Test func japaneseWithoutDeclaredCodeExtensionsStillDecodes() throws {
        // Written with no (0008,0005): the escapes are honoured.
        let bytes = hex("1B 24 42 3B 33 45 44 1B 28 42 5E 1B 24 42 42 40 4F 3A 1B 28 42")
        #expect(try SpecificCharacterSet.default.decode(bytes, vr: .PN) == "山田^太郎")
        // ... but never encoded so.
        #expect(throws: CharacterSetError.unencodable(character: "山", terms: ["ISO_IR 6"])) {
            try SpecificCharacterSet.default.encode("山田", vr: .PN)
        }
    }

    @Test func unterminatedKanjiRunAndMissingReset() throws {
        let set = try charset("\\ISO 2022 IR 87")
        // No ESC ( B at the end of the value.
        #expect(try set.decode(hex("1B 24 42 3B 33 45 44"), vr: .PN) == "山田")
        // An odd byte at the end of a two-byte run.
        #expect(throws: CharacterSetError.undecodable(byteOffset: 5, term: "ISO 2022 IR 87")) {
            try set.decode(hex("1B 24 42 3B 33 45"), vr: .PN)
        }
        // CR LF reset to ASCII even without ESC ( B.
        #expect(try set.decode(hex("1B 24 42 3B 33 0D 0A 41"), vr: .LT) == "山\r\nA")
    }

    @Test(arguments: [
        (VR.LT, [0x09, 0x0A, 0x0C, 0x0D] as [UInt8], [0x5C, 0x3D, 0x5E] as [UInt8]),
        (VR.LO, [0x09, 0x0A, 0x0C, 0x0D, 0x5C], [0x3D, 0x5E]),
        (VR.PN, [0x09, 0x0A, 0x0C, 0x0D, 0x5C, 0x3D, 0x5E], []),
    ])
    func delimitersResetToInitialDesignation(vr: VR, delimiters: [UInt8], others: [UInt8]) throws {
        let set = try charset("ISO 2022 IR 148\\ISO 2022 IR 126")
        for byte in delimiters {
            let text = try set.decode([0x1B, 0x2D, 0x46, 0xED, byte, 0xED], vr: vr)
            #expect(text == "ν" + String(UnicodeScalar(byte)) + "í")
        }
        for byte in others {
            let text = try set.decode([0x1B, 0x2D, 0x46, 0xED, byte, 0xED], vr: vr)
            #expect(text == "ν" + String(UnicodeScalar(byte)) + "ν")
        }
    }

    @Test func singleByteCodeExtensions() throws {
        let set = try charset("ISO 2022 IR 100\\ISO 2022 IR 144\\ISO 2022 IR 126")
        let expected = "Buc^Jérôme\\Διονυσιος\\Люкceмбypг"
        // As other writers do it, relying on the reset at the delimiter.
        let bytes = hex("""
            42 75 63 5E 4A E9 72 F4 6D 65 5C 1B 2D 46 C4 E9 EF ED F5 F3 E9 EF F2 5C 1B 2D 4C BB EE DA 63 65 DC D1 79 70 D3
            """)
        #expect(try set.decode(bytes, vr: .PN) == expected)
        // This encoder also re-designates the initial G1 explicitly.
        let encoded = try set.encode(expected, vr: .PN)
        #expect(encoded == hex("""
            42 75 63 5E 4A E9 72 F4 6D 65 5C 1B 2D 46 C4 E9 EF ED F5 F3 E9 EF F2 1B 2D 41 5C 1B 2D 4C BB EE DA 63 65 DC D1 79 70 D3 1B 2D 41
            """))
        #expect(try set.decode(encoded, vr: .PN) == expected)
        // ISO 2022 IR 127 with a redundant designation.
        #expect(try charset("ISO 2022 IR 127").decode(hex("E2 C8 C7 E6 EA 5E 1B 2D 47 E4 E6 D2 C7 D1"), vr: .PN) == "قباني^لنزار")
    }

    @Test func mixedMultiByteSets() throws {
        let set = try charset("\\ISO 2022 IR 87\\ISO 2022 IR 149")
        let text = "山田^홍=吉洞"
        let bytes = try set.encode(text, vr: .PN)
        #expect(bytes == hex("1B 24 42 3B 33 45 44 1B 28 42 5E 1B 24 29 43 C8 AB 3D 1B 24 42 35 48 46 36 1B 28 42"))
        #expect(try set.decode(bytes, vr: .PN) == text)
    }

    @Test func koreanWithoutEscapeAsValueOne() throws {
        // ISO 2022 IR 149 alone: G1 is KS X 1001 from the start (EUC-KR).
        let set = try charset("ISO 2022 IR 149")
        #expect(try set.decode(hex("B1 E8 C8 F1 C1 DF"), vr: .PN) == "김희중")
        #expect(try set.encode("김희중", vr: .PN) == hex("B1 E8 C8 F1 C1 DF"))
        #expect(try charset("ISO 2022 IR 58").decode(hex("B5 DA D2 BB D0 D0 CE C4 D7 D6 A1 A3"), vr: .LT) == "第一行文字。")
        // ISO 2022 IR 87 alone still starts in ASCII.
        #expect(try charset("ISO 2022 IR 87").decode(hex("41 42"), vr: .LO) == "AB")
    }

    @Test("single-byte sets", arguments: singleByteSamples)
    func singleByte(_ sample: CharsetSingleByteSample) throws {
        let set = try charset(sample.term)
        #expect(try set.decode(hex(sample.bytes), vr: .PN) == sample.text)
        #expect(try set.encode(sample.text, vr: .PN) == hex(sample.bytes))
        // The ISO 2022 form reads the same bytes.
        let extended = try charset(sample.term.replacingOccurrences(of: "ISO_IR", with: "ISO 2022 IR"))
        #expect(try extended.decode(hex(sample.bytes), vr: .PN) == sample.text)
        #expect(try extended.encode(sample.text, vr: .PN) == hex(sample.bytes))
    }

    @Test func undecodableBytesAreReportedWithTheirOffset() throws {
        let latin1 = try charset("ISO_IR 100")
        // 0x92 is a Windows-1252 quote, a C1 control in ISO 8859-1.
        let bytes = hex("4F 92 42 72 69 65 6E")
        #expect(throws: CharacterSetError.undecodable(byteOffset: 1, term: "ISO_IR 100")) {
            try latin1.decode(bytes, vr: .PN)
        }
        let lossy = latin1.decodeLossy(bytes, vr: .PN)
        #expect(lossy.text == "O\u{FFFD}Brien")
        #expect(lossy.problems == [.undecodable(byteOffset: 1, term: "ISO_IR 100")])

        // Default repertoire: nothing above 0x7F.
        #expect(throws: CharacterSetError.undecodable(byteOffset: 4, term: "ISO_IR 6")) {
            try SpecificCharacterSet.default.decode(hex("4A 65 72 6F E9"), vr: .PN)
        }
        // ISO 8859-3 has no character at 0xA5.
        #expect(throws: CharacterSetError.undecodable(byteOffset: 0, term: "ISO_IR 109")) {
            try charset("ISO_IR 109").decode([0xA5], vr: .LO)
        }
        // Several problems, each listed.
        let many = SpecificCharacterSet.default.decodeLossy(hex("80 41 FF 42"), vr: .LO)
        #expect(many.text == "\u{FFFD}A\u{FFFD}B")
        #expect(many.problems.map(\.byteOffset) == [0, 2])
    }

    @Test func invalidUTF8IsReported() throws {
        let utf8 = try charset("ISO_IR 192")
        #expect(throws: CharacterSetError.undecodable(byteOffset: 1, term: "ISO_IR 192")) {
            try utf8.decode(hex("41 C3 28"), vr: .LO)
        }
        // Overlong, surrogate, truncated, ESC.
        for bytes in ["C0 AF", "ED A0 80", "E3 81", "1B 24 42"] {
            #expect(throws: CharacterSetError.undecodable(byteOffset: 0, term: "ISO_IR 192")) {
                try utf8.decode(hex(bytes), vr: .LO)
            }
        }
        // Latin-1 mislabelled as UTF-8.
        let lossy = utf8.decodeLossy(hex("4A E9 72 F4 6D 65"), vr: .PN)
        #expect(lossy.text == "J\u{FFFD}r\u{FFFD}me")
        #expect(lossy.problems.count == 2)
    }

    @Test func invalidGB18030IsReported() throws {
        let gb = try charset("GB18030")
        #expect(throws: CharacterSetError.undecodable(byteOffset: 2, term: "GB18030")) {
            try gb.decode(hex("41 42 FF 43"), vr: .LO)
        }
        let lossy = gb.decodeLossy(hex("CD F5 80 1B D0 A1"), vr: .LO)
        #expect(lossy.text == "王\u{FFFD}\u{FFFD}小")
        #expect(lossy.problems.map(\.byteOffset) == [2, 3])
        // A 0x5C trail byte is part of a character, not a delimiter: 乗 is 81 5C in GBK.
        #expect(try gb.decodeValues(hex("81 5C 41"), vr: .LO).count == 1)
        #expect(try gb.encode("丂𠮷", vr: .LO) == hex("81 40 95 34 B2 35"))
        #expect(throws: CharacterSetError.unencodable(character: "𠮷", terms: ["GBK"])) {
            try charset("GBK").encode("王𠮷", vr: .LO)
        }
    }

    @Test func invalidEscapeSequenceIsReported() throws {
        let set = try charset("\\ISO 2022 IR 87")
        #expect(throws: CharacterSetError.invalidEscapeSequence(byteOffset: 1)) {
            try set.decode(hex("41 1B 25 47 42"), vr: .LO)
        }
        let lossy = set.decodeLossy(hex("41 1B 25 47 42"), vr: .LO)
        #expect(lossy.text == "A\u{FFFD}B")
        #expect(lossy.problems == [.invalidEscapeSequence(byteOffset: 1)])
    }

    @Test func unencodableCharacters() throws {
        #expect(throws: CharacterSetError.unencodable(character: "é", terms: ["ISO_IR 6"])) {
            try SpecificCharacterSet.default.encode("Jérôme", vr: .PN)
        }
        #expect(throws: CharacterSetError.unencodable(character: "Δ", terms: ["ISO_IR 100"])) {
            try charset("ISO_IR 100").encode("AΔ", vr: .LO)
        }
        // ESC can never be written into a value.
        #expect(throws: CharacterSetError.unencodable(character: "\u{1B}", terms: ["ISO_IR 192"])) {
            try charset("ISO_IR 192").encode("\u{1B}$B", vr: .LO)
        }
    }

    @Test func errorDescriptions() {
        #expect(
            CharacterSetError.unencodable(character: "𠮷", terms: ["", "ISO 2022 IR 87"]).description
                == "\"𠮷\" (U+20BB7) cannot be encoded in \\ISO 2022 IR 87")
        #expect(
            CharacterSetError.undecodable(byteOffset: 3, term: "ISO_IR 100").description
                == "byte offset 3: not a character of ISO_IR 100")
        #expect(CharacterSetError.unknownTerm("ISO_IR 999").description.contains("ISO_IR 999"))
    }

    @Test func vrsWithoutSpecificCharacterSetUseASCII() throws {
        let utf8 = try charset("ISO_IR 192")
        #expect(try utf8.decode(Array("ORIGINAL\\PRIMARY".utf8), vr: .CS) == "ORIGINAL\\PRIMARY")
        #expect(throws: CharacterSetError.undecodable(byteOffset: 1, term: "ISO_IR 6")) {
            try utf8.decode(hex("41 C3 A9"), vr: .CS)
        }
        #expect(throws: CharacterSetError.unencodable(character: "é", terms: ["ISO_IR 6"])) {
            try utf8.encode("é", vr: .AE)
        }
        // Escapes are not interpreted there.
        #expect(try charset("\\ISO 2022 IR 87").decode(hex("1B 24 42"), vr: .CS) == "\u{1B}$B")
    }

    @Test func collectionsOfAnyKindDecode() throws {
        let set = try charset("\\ISO 2022 IR 87")
        let bytes = hex("41 1B 24 42 3B 33 1B 28 42")
        // Not contiguous.
        #expect(try set.decode(bytes.lazy.map { $0 }, vr: .PN) == "A山")
        // A slice: offsets count from its start.
        let padded = [0xFF] + bytes + [0x8E]
        #expect(throws: CharacterSetError.undecodable(byteOffset: 9, term: "ISO 2022 IR 6")) {
            try set.decode(padded[1...], vr: .PN)
        }
    }

    @Test func concurrentUseBuildsTablesOnce() async throws {
        let sets = try [charset("\\ISO 2022 IR 87"), charset("\\ISO 2022 IR 149"), charset("\\ISO 2022 IR 58"), charset("ISO_IR 126")]
        let samples = ["山田^太郎", "洪^吉洞", "张^小东", "Διονυσιος"]
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for round in 0..<64 {
                let index = round % sets.count
                let set = sets[index]
                let sample = samples[index]
                group.addTask {
                    let bytes = try set.encode(sample, vr: .PN)
                    return try set.decode(bytes, vr: .PN) == sample
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }

    @Test func terms() throws {
        #expect(try SpecificCharacterSet(terms: []).isDefault)
        #expect(try SpecificCharacterSet(terms: [""]) == .default)
        #expect(try SpecificCharacterSet(terms: ["ISO_IR 6"]) == .default)
        #expect(SpecificCharacterSet.default.description == "ISO_IR 6")
        #expect(try charset("ISO_IR 100").description == "ISO_IR 100")
        #expect(try charset("\\ISO 2022 IR 87").description == "\\ISO 2022 IR 87")
        #expect(try !charset("\\ISO 2022 IR 87").isDefault)

        // Padding is ignored; an explicit ISO 2022 IR 6 equals an empty value 1.
        let explicit = try SpecificCharacterSet(terms: ["ISO 2022 IR 6 ", " ISO 2022 IR 87"])
        #expect(explicit.terms == ["ISO 2022 IR 6", "ISO 2022 IR 87"])
        #expect(explicit.canonicalTerms == ["", "ISO 2022 IR 87"])
        #expect(try explicit == charset("\\ISO 2022 IR 87"))

        // ISO_IR nnn among several values is read as ISO 2022 IR nnn.
        let mixed = try charset("ISO_IR 13\\ISO 2022 IR 87")
        #expect(mixed.canonicalTerms == ["ISO 2022 IR 13", "ISO 2022 IR 87"])
        #expect(try mixed.encode("ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", vr: .PN) == hex(goldenExamples[1].bytes))

        #expect(throws: CharacterSetError.unknownTerm("ISO_IR 999")) { try charset("ISO_IR 999") }
        #expect(throws: CharacterSetError.unknownTerm("iso_ir 100")) { try charset("iso_ir 100") }
        #expect(throws: CharacterSetError.invalidCombination(["ISO_IR 192", "ISO 2022 IR 87"])) {
            try charset("ISO_IR 192\\ISO 2022 IR 87")
        }
    }

    @Test func lenientTerms() throws {
        let latin1 = SpecificCharacterSet(lenientTerms: ["ISO-IR 100"])
        #expect(latin1.canonicalTerms == ["ISO_IR 100"])
        #expect(latin1.unknownTerms.isEmpty)
        #expect(latin1 == (try charset("ISO_IR 100")))
        #expect(SpecificCharacterSet(lenientTerms: ["iso_ir100"]).canonicalTerms == ["ISO_IR 100"])
        #expect(SpecificCharacterSet(lenientTerms: ["UTF-8"]).canonicalTerms == ["ISO_IR 192"])
        #expect(SpecificCharacterSet(lenientTerms: ["ISO-8859-7"]).canonicalTerms == ["ISO_IR 126"])
        #expect(SpecificCharacterSet(lenientTerms: ["", "ISO_IR 87"]).canonicalTerms == ["", "ISO 2022 IR 87"])

        let unknown = SpecificCharacterSet(lenientTerms: ["KLINGON"])
        #expect(unknown.unknownTerms == ["KLINGON"])
        #expect(unknown.isDefault)
        #expect(unknown.terms == ["KLINGON"])
        // Falls back to ASCII; anything else is reported, not guessed.
        #expect(throws: CharacterSetError.undecodable(byteOffset: 0, term: "ISO_IR 6")) {
            try unknown.decode([0xE9], vr: .PN)
        }
        let unknownFirst = SpecificCharacterSet(lenientTerms: ["KLINGON", "ISO 2022 IR 87"])
        #expect(unknownFirst.canonicalTerms == ["", "ISO 2022 IR 87"])
        #expect(try unknownFirst.decode(hex(goldenExamples[0].bytes), vr: .PN) == goldenExamples[0].text)

        let standalone = SpecificCharacterSet(lenientTerms: ["ISO_IR 192", "ISO 2022 IR 87"])
        #expect(standalone.canonicalTerms == ["ISO_IR 192"])
        #expect(standalone.unknownTerms == ["ISO 2022 IR 87"])
    }

    @Test func suitableCharacterSet() {
        #expect(SpecificCharacterSet.suitable(for: ["Yamada^Tarou", "CT\\MR"]) == .default)
        #expect(SpecificCharacterSet.suitable(for: []) == .default)
        #expect(SpecificCharacterSet.suitable(for: ["Buc^Jérôme", "Yamada"]).canonicalTerms == ["ISO_IR 100"])
        #expect(SpecificCharacterSet.suitable(for: ["Yamada^Tarou=山田^太郎=やまだ^たろう"]).canonicalTerms == ["", "ISO 2022 IR 87"])
        #expect(SpecificCharacterSet.suitable(for: ["ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎"]).canonicalTerms == ["ISO 2022 IR 13", "ISO 2022 IR 87"])
        #expect(SpecificCharacterSet.suitable(for: ["ﾔﾏﾀﾞ"]).canonicalTerms == ["ISO 2022 IR 13", "ISO 2022 IR 87"])
        #expect(SpecificCharacterSet.suitable(for: ["Buc^Jérôme", "山田"]).canonicalTerms == ["ISO_IR 192"])
        #expect(SpecificCharacterSet.suitable(for: ["Hong^Gildong=洪^吉洞=홍^길동"]).canonicalTerms == ["ISO_IR 192"])
        #expect(SpecificCharacterSet.suitable(for: ["Διονυσιος"]).canonicalTerms == ["ISO_IR 192"])
        #expect(SpecificCharacterSet.suitable(for: ["①"]).canonicalTerms == ["ISO_IR 192"])
    }

    /// A file's own (0008,0005), common or not, and an item's, as the
    /// parser meets them and after an edit: what every name decodes with.
    @Test(arguments: [nil, "ISO_IR 100", "ISO_IR 148"] as [String?])
    func itemsInheritOrOverrideTheFileCharacterSet(_ fileTerm: String?) throws {
        func element(_ tag: DICOM.Tag, _ vr: VR, _ bytes: [UInt8]) -> DataElement {
            DataElement(tag: tag, vr: vr, bytes: Data(bytes.count % 2 == 1 ? bytes + [0x20] : bytes))
        }
        let latin = Array("Gr".utf8) + [0xFC] + Array("n".utf8)   // "Grün" in ISO 8859-1 and -9 alike
        let inheriting = Dataset([element(.patientName, .PN, latin)])
        let own = Dataset([element(.specificCharacterSet, .CS, Array("ISO_IR 192".utf8)),
                           element(.patientName, .PN, Array("山田".utf8))])
        var top = Dataset([element(.patientName, .PN, latin),
                           DataElement(tag: .referencedImageSequence, vr: .SQ, value: .sequence([inheriting, own]))])
        if let fileTerm { top.set(element(.specificCharacterSet, .CS, Array(fileTerm.utf8))) }
        let data = try DICOMWriter.encode(top, transferSyntax: .explicitVRLittleEndian)
        var read = try DICOMFile(data: data).dataset
        let items = try #require(read[.referencedImageSequence]?.items)
        let expected = fileTerm == nil ? "Gr\u{FFFD}n" : "Grün"   // 0xFC is not ASCII
        #expect(read.string(.patientName) == expected)
        #expect(items[0].string(.patientName) == expected)
        #expect(items[1].string(.patientName) == "山田")
        // An edit of the file's set takes effect on the file and is
        // handed to items parsed from then on.
        read.set(element(.specificCharacterSet, .CS, Array("ISO_IR 192".utf8)))
        read.set(element(.patientName, .PN, Array("Grün".utf8)))
        #expect(read.string(.patientName) == "Grün")
        _ = read.remove(.specificCharacterSet)
        #expect(read.string(.patientName) == "Gr\u{FFFD}\u{FFFD}n")
    }

    @Test func personNameGroups() {
        let name = PersonName("Yamada^Tarou=山田^太郎=やまだ^たろう")
        #expect(name.alphabetic == "Yamada^Tarou")
        #expect(name.ideographic == "山田^太郎")
        #expect(name.phonetic == "やまだ^たろう")
        #expect(name[components: .ideographic].family == "山田")
        #expect(name[components: .phonetic].given == "たろう")
        #expect(name.components.map(\.family) == ["Yamada", "山田", "やまだ"])
        #expect(name.dicomForm == "Yamada^Tarou=山田^太郎=やまだ^たろう")

        // Half-width katakana (and their punctuation) full-width in the
        // ideographic and phonetic groups only, voiced marks composed.
        #expect(PersonName("ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=ﾔﾏﾀﾞ^ﾀﾛｳ･ｼﾞｭﾆｱ").withFullWidthKatakana.dicomForm
                == "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=ヤマダ^タロウ・ジュニア")
        #expect(PersonName("Kato^Miki=加藤^ﾐｷ=ｶﾄｳ^ﾐｷ").withFullWidthKatakana.dicomForm == "Kato^Miki=加藤^ミキ=カトウ^ミキ")
        #expect(PersonName("Ｙａｍａｄａ=山田=やまだ").withFullWidthKatakana.dicomForm == "Ｙａｍａｄａ=山田=やまだ", "nothing else changes")
        #expect(PersonName("Wang^XiaoDong=王^小東=").dicomForm == "Wang^XiaoDong=王^小東")
        #expect(PersonName("Yamada^Tarou^^^ ").dicomForm == "Yamada^Tarou")
        #expect(PersonName("=山田^太郎").alphabetic == "")
        #expect(PersonName("=山田^太郎").dicomForm == "=山田^太郎")
        #expect(PersonName("^^^^=^^").isEmpty)
        #expect(PersonName("").dicomForm == "")

        var edited = PersonName("Doe^John")
        edited[components: .alphabetic].prefix = "Dr"
        edited.ideographic = "山田"
        #expect(edited.dicomForm == "Doe^John^^Dr=山田")
        let full = PersonName.Components("Adams^John Robert Quincy^^Rev.^B.A. M.Div.")
        #expect(full.given == "John Robert Quincy")
        #expect(full.prefix == "Rev.")
        #expect(full.suffix == "B.A. M.Div.")
        // Extra components and groups are kept, not lost.
        #expect(PersonName.Components("a^b^c^d^e^f").suffix == "e^f")
        #expect(PersonName("a=b=c=d").phonetic == "c=d")
    }

    @Test func personNameRoundTripThroughEncoding() throws {
        let set = try charset("\\ISO 2022 IR 87")
        let name = PersonName(alphabetic: "Yamada^Tarou", ideographic: "山田^太郎", phonetic: "やまだ^たろう")
        let bytes = try set.encode(name.dicomForm, vr: .PN)
        #expect(bytes == hex(goldenExamples[0].bytes))
        #expect(PersonName(try set.decode(bytes, vr: .PN)) == name)
    }

    @Test("pydicom charset files", arguments: pydicomSamples)
    func pydicomCrossCheck(_ sample: CharsetPydicomSample) throws {
        let set = try SpecificCharacterSet(terms: sample.terms)
        let bytes = unpadded(hex(sample.bytes))
        #expect(try set.decodeValues(bytes, vr: sample.vr) == sample.values)
        if sample.sameEncoding {
            #expect(try set.encode(values: sample.values, vr: sample.vr) == bytes)
        } else {
            let encoded = try set.encode(values: sample.values, vr: sample.vr)
            #expect(try set.decodeValues(encoded, vr: sample.vr) == sample.values)
        }
    }

    @Test("random bytes: decode throws exactly when decodeLossy reports", arguments: fuzzTerms)
    func randomBytes(terms: String) throws {
        let set = try charset(terms)
        var random = SeededGenerator(seed: 42)
        // Bytes biased towards ESC, delimiters and the multi-byte ranges.
        let interesting: [UInt8] = [0x1B, 0x24, 0x28, 0x29, 0x2D, 0x42, 0x4A, 0x49, 0x43, 0x41, 0x44, 0x5C, 0x5E, 0x3D, 0x0D, 0x0A, 0xA1, 0xB0, 0xFE, 0x80]
        for _ in 0..<400 {
            let length = Int.random(in: 0...24, using: &random)
            let bytes: [UInt8] = (0..<length).map { _ in
                Bool.random(using: &random) ? interesting.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
            }
            for vr in [VR.PN, .LO, .LT] {
                let lossy = set.decodeLossy(bytes, vr: vr)
                do {
                    let text = try set.decode(bytes, vr: vr)
                    #expect(lossy.problems.isEmpty)
                    #expect(text == lossy.text)
                } catch {
                    #expect(lossy.problems.first == error)
                    #expect(lossy.text.unicodeScalars.contains("\u{FFFD}"))
                }
            }
        }
    }

    @Test("random text: what encodes decodes back", arguments: fuzzTerms)
    func randomText(terms: String) throws {
        let set = try charset(terms)
        var random = SeededGenerator(seed: 7)
        let pool = Array("abcXYZ 019^=\\~¥‾\r\néÄДΔ山田本花子やまだヤマダﾔﾏﾀﾞ홍길동张小东苷𠮷①ก")
        var encoded = 0
        for _ in 0..<600 {
            let text = String((0..<Int.random(in: 0...10, using: &random)).map { _ in pool.randomElement(using: &random)! })
            for vr in [VR.PN, .LO, .LT] {
                guard let bytes = try? set.encode(text, vr: vr) else { continue }
                encoded += 1
                #expect(try set.decode(bytes, vr: vr) == text, "\(terms) \(vr) \(text.debugDescription)")
            }
        }
        #expect(encoded > 0)
    }
}

// MARK: - Helpers

extension CharacterSetError {
    fileprivate var byteOffset: Int? {
        switch self {
        case .undecodable(let offset, _), .invalidEscapeSequence(let offset): return offset
        default: return nil
        }
    }
}

private let fuzzTerms = [
    "", "ISO_IR 100", "ISO_IR 13", "ISO_IR 166", "ISO_IR 192", "GB18030", "GBK", "\\ISO 2022 IR 87",
    "ISO 2022 IR 13\\ISO 2022 IR 87\\ISO 2022 IR 159", "\\ISO 2022 IR 149", "\\ISO 2022 IR 58",
    "ISO 2022 IR 100\\ISO 2022 IR 126\\ISO 2022 IR 144",
]

