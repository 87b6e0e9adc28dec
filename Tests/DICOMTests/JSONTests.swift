// `discport dump`'s formats: the DICOM JSON model (PS3.18 Annex F), the
// Native DICOM Model XML (PS3.19) and the dcmdump-like text, on data sets
// built byte by byte. pydicom's verdict on its whole test corpus is in
// Tests/conformance/pydicom-json.sh.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import DICOM
import DICOMXML
import struct DICOM.Tag

// MARK: - Fixtures

private let esc: UInt8 = 0x1B

/// PS3.5 Annex H.3.1: Yamada^Tarou=山田^太郎=やまだ^たろう in ISO 2022 IR 87,
/// JIS X 0208 between ESC $ B and ESC ( B.
private let japaneseNameBytes: [UInt8] = {
    func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }
    let toKanji: [UInt8] = [esc, 0x24, 0x42]
    let toASCII: [UInt8] = [esc, 0x28, 0x42]
    var b = ascii("Yamada^Tarou=")
    b += toKanji + ascii(";3ED") + toASCII + ascii("^") + toKanji + ascii("B@O:") + toASCII + ascii("=")
    b += toKanji + ascii("$d$^$@") + toASCII + ascii("^") + toKanji + ascii("$?$m$&") + toASCII
    return b
}()

private func element(_ group: UInt16, _ elem: UInt16, _ vr: VR, _ bytes: [UInt8]) -> DataElement {
    DataElement(tag: Tag(group, elem), vr: vr, bytes: Data(bytes))
}

private func text(_ group: UInt16, _ elem: UInt16, _ vr: VR, _ s: String) -> DataElement {
    element(group, elem, vr, Array(s.utf8))
}

private func littleEndian16(_ values: UInt16...) -> [UInt8] {
    values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
}

/// The Annex H data set: Specific Character Set `\ISO 2022 IR 87` and the name.
private func japaneseDataset() -> Dataset {
    var name = japaneseNameBytes
    if name.count % 2 == 1 { name.append(0x20) }
    return Dataset([
        text(0x0008, 0x0005, .CS, "\\ISO 2022 IR 87 "),
        element(0x0010, 0x0010, .PN, name),
    ])
}

/// The JSON text parsed back, to check structure independently of layout.
private func parsed(_ json: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
    return try #require(object as? [String: Any])
}

private func attribute(_ json: [String: Any], _ key: String) throws -> [String: Any] {
    try #require(json[key] as? [String: Any], "no attribute \(key)")
}

// MARK: - JSON

@Suite("DICOM JSON model")
struct JSONTests {
    @Test("PS3.5 Annex H Japanese name: three component groups")
    func japaneseName() throws {
        let json = DICOMJSON.encode(japaneseDataset())
        #expect(json.contains(#""00100010":{"vr":"PN","Value":[{"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎","Phonetic":"やまだ^たろう"}]}"#))
        // The empty first value of (0008,0005) is null (F.2.5).
        #expect(json.contains(#""00080005":{"vr":"CS","Value":[null,"ISO 2022 IR 87"]}"#))
    }

    @Test("compact output is exact and in tag order")
    func exactCompact() {
        let dataset = Dataset([
            text(0x0010, 0x0020, .LO, "ID1 "),
            text(0x0008, 0x0060, .CS, "CT"),
            element(0x0028, 0x0010, .US, littleEndian16(512)),
        ])
        #expect(DICOMJSON.encode(dataset) ==
            #"{"00080060":{"vr":"CS","Value":["CT"]},"00100020":{"vr":"LO","Value":["ID1"]},"00280010":{"vr":"US","Value":[512]}}"#)
    }

    @Test("pretty output parses to the same structure")
    func pretty() throws {
        let dataset = japaneseDataset()
        let compact = try parsed(DICOMJSON.encode(dataset))
        let pretty = DICOMJSON.encode(dataset, pretty: true)
        #expect(pretty.contains("\n  \"00100010\": {\n    \"vr\": \"PN\","))
        #expect(NSDictionary(dictionary: try parsed(pretty)) == NSDictionary(dictionary: compact))
    }

    @Test("IS and DS are numbers with the data set's digits; invalid ones strings")
    func decimalAndIntegerStrings() throws {
        let dataset = Dataset([
            text(0x0018, 0x0050, .DS, "0.30"),
            text(0x0020, 0x0013, .IS, "+5"),
            text(0x0028, 0x0030, .DS, ".5\\-1.\\1E3 "),
            text(0x0028, 0x1050, .DS, "abc "),
            text(0x0028, 0x0008, .IS, "007 "),
        ])
        let json = DICOMJSON.encode(dataset)
        #expect(json.contains(#""00180050":{"vr":"DS","Value":[0.30]}"#))
        #expect(json.contains(#""00200013":{"vr":"IS","Value":[5]}"#))
        #expect(json.contains(#""00280030":{"vr":"DS","Value":[0.5,-1,1E3]}"#))
        #expect(json.contains(#""00281050":{"vr":"DS","Value":["abc"]}"#))
        #expect(json.contains(#""00280008":{"vr":"IS","Value":[7]}"#))
        _ = try parsed(json)
    }

    @Test("empty values: no Value key; empty values among several are null")
    func emptyValues() {
        let dataset = Dataset([
            text(0x0008, 0x0050, .SH, ""),
            text(0x0008, 0x0090, .PN, "  "),
            text(0x0008, 0x0008, .CS, "ORIGINAL\\\\AXIAL "),
            DataElement(tag: Tag(0x0008, 0x1140), vr: .SQ, value: .sequence([]), hasUndefinedLength: true),
            element(0x7FE0, 0x0010, .OB, []),
        ])
        let json = DICOMJSON.encode(dataset)
        #expect(json.contains(#""00080050":{"vr":"SH"}"#))
        #expect(json.contains(#""00080090":{"vr":"PN"}"#))
        #expect(json.contains(#""00080008":{"vr":"CS","Value":["ORIGINAL",null,"AXIAL"]}"#))
        #expect(json.contains(#""00081140":{"vr":"SQ"}"#))
        #expect(json.contains(#""7FE00010":{"vr":"OB"}"#))
    }

    @Test("binary numbers, floats, AT")
    func binaryValues() {
        var floats: [UInt8] = []
        withUnsafeBytes(of: Float(0.3).bitPattern.littleEndian) { floats += $0 }
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { floats += $0 }
        var doubles: [UInt8] = []
        withUnsafeBytes(of: (2.5).bitPattern.littleEndian) { doubles += $0 }
        let dataset = Dataset([
            element(0x0018, 0x9089, .FD, doubles),
            element(0x0018, 0x9087, .FL, floats),
            element(0x0028, 0x0106, .SS, littleEndian16(0xFFFF)),
            element(0x0020, 0x9165, .AT, littleEndian16(0x0010, 0x0020, 0x7FE0, 0x0010)),
            element(0x0018, 0x6020, .SL, [0xFE, 0xFF, 0xFF, 0xFF]),
        ])
        let json = DICOMJSON.encode(dataset)
        #expect(json.contains(#""00189087":{"vr":"FL","Value":[0.3,"NaN"]}"#))
        #expect(json.contains(#""00189089":{"vr":"FD","Value":[2.5]}"#))
        #expect(json.contains(#""00280106":{"vr":"SS","Value":[-1]}"#))
        #expect(json.contains(#""00209165":{"vr":"AT","Value":["00100020","7FE00010"]}"#))
        #expect(json.contains(#""00186020":{"vr":"SL","Value":[-2]}"#))
    }

    @Test("OB/OW/UN are InlineBinary; encapsulated pixel data is its items")
    func inlineBinary() throws {
        let fragments = EncapsulatedPixelData(offsetTable: Data(), fragments: [Data([0xFF, 0xD8, 0xFF, 0xD9])])
        let dataset = Dataset([
            element(0x0002, 0x0001, .OB, [0x00, 0x01]),
            element(0x0009, 0x1001, .UN, [1, 2, 3, 4]),
            DataElement(tag: .pixelData, vr: .OB, value: .fragments(fragments), hasUndefinedLength: true),
        ])
        let json = try parsed(DICOMJSON.encode(dataset))
        #expect(try attribute(json, "00020001")["InlineBinary"] as? String == "AAE=")
        #expect(try attribute(json, "00091001")["InlineBinary"] as? String == "AQIDBA==")
        let pixels = try #require(try attribute(json, "7FE00010")["InlineBinary"] as? String)
        #expect(Data(base64Encoded: pixels) == fragments.encodedItems)
        #expect(fragments.encodedItems.count == 8 + 8 + 4)
    }

    @Test("JSON string escapes")
    func escapes() {
        let dataset = Dataset([text(0x0020, 0x4000, .LT, "a \"quoted\" \\ line\r\nend\u{1}")])
        #expect(DICOMJSON.encode(dataset).contains(#""Value":["a \"quoted\" \\ line\r\nend\u0001"]"#))
    }

    @Test("sequences: items are objects and inherit the character set")
    func sequences() throws {
        var item = Dataset([element(0x0010, 0x0010, .PN, japaneseNameBytes + [0x20])])
        item.inheritedCharacterSet = japaneseDataset().characterSet
        let dataset = Dataset([
            text(0x0008, 0x0005, .CS, "\\ISO 2022 IR 87 "),
            DataElement(tag: Tag(0x0032, 0x1064), vr: .SQ, value: .sequence([item, Dataset()]), hasUndefinedLength: true),
        ])
        let json = DICOMJSON.encode(dataset)
        #expect(json.contains(#""00321064":{"vr":"SQ","Value":[{"00100010":{"vr":"PN","Value":[{"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎","Phonetic":"やまだ^たろう"}]}},{}]}"#))
    }

    @Test("explicit UN of a known tag gets the dictionary VR; a UN sequence is re-read as implicit VR")
    func unknownVRReplaced() throws {
        // One item holding (0008,1150) UI "1.2", implicit VR little endian.
        var item: [UInt8] = [0x08, 0x00, 0x50, 0x11, 0x04, 0x00, 0x00, 0x00] + Array("1.2\0".utf8)
        item = [0xFE, 0xFF, 0x00, 0xE0] + [UInt8(item.count), 0, 0, 0] + item
        let dataset = Dataset([
            text(0x0010, 0x0010, .UN, "Doe^Jane"),
            element(0x0008, 0x1140, .UN, item),
            element(0x0009, 0x0010, .UN, Array("ACME 1.0".utf8)),
            element(0x0009, 0x1001, .UN, [1, 2]),
        ])
        let json = DICOMJSON.encode(dataset)
        #expect(json.contains(#""00100010":{"vr":"PN","Value":[{"Alphabetic":"Doe^Jane"}]}"#))
        #expect(json.contains(#""00081140":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2"]}}]}"#))
        #expect(json.contains(#""00090010":{"vr":"LO","Value":["ACME 1.0"]}"#))
        #expect(json.contains(#""00091001":{"vr":"UN","InlineBinary":"AQI="}"#))
        // And off when asked.
        let raw = DICOMJSON.encode(dataset, options: DICOMJSON.Options(replaceUNWithKnownVR: false))
        #expect(raw.contains(#""00100010":{"vr":"UN","InlineBinary":"#))
    }

    @Test("group 0002 only with includeMeta")
    func meta() throws {
        var file = DICOMFile(meta: Dataset([text(0x0002, 0x0010, .UI, "1.2.840.10008.1.2.1\0")]),
                             dataset: Dataset([text(0x0008, 0x0060, .CS, "CT")]),
                             transferSyntax: .explicitVRLittleEndian)
        file.preamble = nil
        #expect(DICOMJSON.encode(file) == #"{"00080060":{"vr":"CS","Value":["CT"]}}"#)
        #expect(DICOMJSON.encode(file, includeMeta: true) ==
            #"{"00020010":{"vr":"UI","Value":["1.2.840.10008.1.2.1"]},"00080060":{"vr":"CS","Value":["CT"]}}"#)
        let entry = DICOMJSON.fileEntry(path: "a/\"b\".dcm", file: file)
        let object = try parsed(entry)
        #expect(object["path"] as? String == "a/\"b\".dcm")
        #expect(object["dataset"] is [String: Any])
    }

    @Test("number literals: JSON grammar and canonical forms")
    func numberLiterals() {
        for valid in ["0", "-0", "12", "0.30", "1e5", "1E-05", "-1.5e+3"] {
            #expect(ModelValues.isJSONNumber(valid), "\(valid)")
        }
        for invalid in ["", "-", "+1", ".5", "5.", "01", "1e", "0x10", "NaN", "1 "] {
            #expect(!ModelValues.isJSONNumber(invalid), "\(invalid)")
        }
        #expect(ModelValues.canonicalNumber("+1.5") == "1.5")
        #expect(ModelValues.canonicalNumber(".5") == "0.5")
        #expect(ModelValues.canonicalNumber("-5.") == "-5")
        #expect(ModelValues.canonicalNumber("007.10") == "7.10")
        #expect(ModelValues.canonicalNumber("1.e+3") == "1e3")
        #expect(ModelValues.integerString("12.0") == "12")
        #expect(ModelValues.integerString("1.5") == nil)
        #expect(ModelValues.decimalString("inf") == nil)
        #expect(ModelValues.decimalString("0x1p3") == nil)
    }
}

// MARK: - Native DICOM Model

@Suite("Native DICOM Model XML")
struct NativeDICOMModelTests {
    @Test("PS3.5 Annex H Japanese name as PersonName groups and components")
    func japaneseName() throws {
        let xml = try NativeDICOMModel.xml(for: japaneseDataset())
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"))
        #expect(xml.contains("<NativeDicomModel xml:space=\"preserve\">"))
        #expect(xml.contains("<DicomAttribute tag=\"00100010\" vr=\"PN\" keyword=\"PatientName\">"))
        let compact = xml.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined()
        #expect(compact.contains(
            "<PersonName number=\"1\">"
            + "<Alphabetic><FamilyName>Yamada</FamilyName><GivenName>Tarou</GivenName></Alphabetic>"
            + "<Ideographic><FamilyName>山田</FamilyName><GivenName>太郎</GivenName></Ideographic>"
            + "<Phonetic><FamilyName>やまだ</FamilyName><GivenName>たろう</GivenName></Phonetic>"
            + "</PersonName>"))
        #expect(compact.contains("<Value number=\"1\"/><Value number=\"2\">ISO 2022 IR 87</Value>"))
    }

    @Test("an empty value of a multi-valued PN is an empty PersonName, never a Value beside PersonName elements")
    func emptyPersonNameValue() throws {
        let xml = try NativeDICOMModel.xml(for: Dataset([text(0x0008, 0x1060, .PN, "A^B\\\\C")]))
        let compact = xml.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined()
        #expect(compact.contains("<PersonName number=\"2\"/>"))
        #expect(!compact.contains("<Value"))
        #expect(compact.contains("<PersonName number=\"3\"><Alphabetic><FamilyName>C</FamilyName></Alphabetic></PersonName>"))
    }

    @Test("items, private creators, inline binary, escaping")
    func structure() throws {
        let item = Dataset([text(0x0008, 0x1150, .UI, "1.2\0")])
        let dataset = Dataset([
            element(0x0008, 0x0000, .UL, [4, 0, 0, 0]),
            text(0x0008, 0x0080, .LO, "A&B <C>"),
            DataElement(tag: Tag(0x0008, 0x1140), vr: .SQ, value: .sequence([item]), hasUndefinedLength: true),
            text(0x0009, 0x0010, .LO, "ACME 1.0"),
            element(0x0009, 0x1001, .UN, [1, 2]),
            text(0x0020, 0x4000, .LT, "bell\u{7}"),
        ])
        let xml = try NativeDICOMModel.xml(for: dataset)
        let compact = xml.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined()
        #expect(compact.contains("<Value number=\"1\">A&amp;B &lt;C&gt;</Value>"))
        #expect(compact.contains("<DicomAttribute tag=\"00081140\" vr=\"SQ\" keyword=\"ReferencedImageSequence\"><Item number=\"1\"><DicomAttribute tag=\"00081150\" vr=\"UI\" keyword=\"ReferencedSOPClassUID\"><Value number=\"1\">1.2</Value></DicomAttribute></Item></DicomAttribute>"))
        #expect(compact.contains("<DicomAttribute tag=\"00090001\" vr=\"UN\" privateCreator=\"ACME 1.0\"><InlineBinary>AQI=</InlineBinary></DicomAttribute>"))
        #expect(compact.contains("<Value number=\"1\">bell\u{FFFD}</Value>"))
        #expect(!compact.contains("00080000"))   // no group lengths (PS3.19 A.1)
        // Well-formed: Foundation's parser accepts it.
        #expect(try XMLDocument(data: Data(xml.utf8)).rootElement()?.name == "NativeDicomModel")
    }
}

// MARK: - Text dump

@Suite("dcmdump-like text")
struct DumpTextTests {
    @Test("one line per element in dcmdump's layout")
    func japaneseLine() {
        let text = japaneseDataset().dumpText()
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        let length = japaneseNameBytes.count + japaneseNameBytes.count % 2
        #expect(lines[1].hasPrefix("(0010,0010) PN [Yamada^Tarou=山田^太郎=やまだ^たろう]"))
        #expect(lines[1].hasSuffix("#  \(length), 1 PatientName"))
        #expect(lines[0] == "(0008,0005) CS [\\ISO 2022 IR 87]                        #  16, 2 SpecificCharacterSet")
    }

    @Test("sequences, items, delimiters, fragments, empty and long values")
    func structure() {
        let item = Dataset([text(0x0008, 0x1150, .UI, "1.2.840.10008.5.1.4.1.1.2\0")])
        let fragments = EncapsulatedPixelData(offsetTable: Data(), fragments: [Data(repeating: 0xAB, count: 100)])
        let dataset = Dataset([
            text(0x0008, 0x0050, .SH, ""),
            DataElement(tag: Tag(0x0008, 0x1140), vr: .SQ, value: .sequence([item]), hasUndefinedLength: true),
            DataElement(tag: .pixelData, vr: .OB, value: .fragments(fragments), hasUndefinedLength: true),
        ])
        let lines = dataset.dumpText().split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("(0008,0050) SH (no value available)"))
        #expect(lines[0].hasSuffix("#   0, 0 AccessionNumber"))
        #expect(lines[1].hasPrefix("(0008,1140) SQ (Sequence with undefined length #=1)"))
        #expect(lines[1].hasSuffix("# u/l, 1 ReferencedImageSequence"))
        #expect(lines[2].hasPrefix("  (fffe,e000) na (Item with explicit length #=1)"))
        #expect(lines[2].hasSuffix("#  34, 1 Item"))
        #expect(lines[3].hasPrefix("    (0008,1150) UI =CTImageStorage"))
        #expect(lines[4].hasPrefix("  (fffe,e00d) na (ItemDelimitationItem for re-encoding)"))
        #expect(lines[5].hasPrefix("(fffe,e0dd) na (SequenceDelimitationItem)"))
        #expect(lines[6].hasPrefix("(7fe0,0010) OB (PixelSequence #=2)"))
        #expect(lines[7].hasPrefix("  (fffe,e000) pi (no value available)"))
        #expect(lines[8].hasPrefix("  (fffe,e000) pi ab\\ab\\"))
        #expect(lines[8].contains("ab..."))
        #expect(lines[8].hasSuffix("# 100, 1 Item"))
        #expect(lines[9].hasPrefix("(fffe,e0dd) na (SequenceDelimitationItem)"))
    }

    @Test("text the character set cannot decode is marked")
    func characterSetProblems() {
        // 0xE9 is no character of the default repertoire (no (0008,0005)).
        let dataset = Dataset([element(0x0010, 0x0010, .PN, Array("Ren".utf8) + [0xE9, 0x20])])
        let line = dataset.dumpText()
        #expect(line.contains("[Ren\u{FFFD}]"))
        #expect(line.contains("PatientName ! character set: byte offset 3"))
        // JSON keeps the replacement character.
        #expect(DICOMJSON.encode(dataset).contains(#"{"Alphabetic":"Ren\#u{FFFD}"}"#))
    }

    @Test("a file: meta first, transfer syntax, warnings and errors")
    func file() throws {
        var file = DICOMFile(meta: Dataset([text(0x0002, 0x0010, .UI, "1.2.840.10008.1.2\0")]),
                             dataset: Dataset([text(0x0008, 0x0060, .CS, "CT")]),
                             transferSyntax: .implicitVRLittleEndian)
        file.warnings = [DICOMError(.oddLength, "odd value length 3", offset: 10, tag: Tag(0x0008, 0x0060))]
        file.error = DICOMError(.truncated, "file ends inside an element header", offset: 20)
        let text = file.dumpText()
        #expect(text.contains("# Dicom-Meta-Information-Header\n# Used TransferSyntax: Explicit VR Little Endian\n(0002,0010) UI =ImplicitVRLittleEndian"))
        #expect(text.contains("# Dicom-Data-Set\n# Used TransferSyntax: Implicit VR Little Endian\n(0008,0060) CS [CT]"))
        #expect(text.contains("# Warning: offset 10 (0xA): tag (0008,0060): odd value length 3"))
        #expect(text.contains("# Error: offset 20 (0x14): file ends inside an element header"))
    }
}
