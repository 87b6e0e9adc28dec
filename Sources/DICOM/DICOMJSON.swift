import Foundation

/// The DICOM JSON Model (PS3.18 Annex F), written as text.
///
/// The output is deterministic: attributes in tag order, keys of an
/// attribute object in the order `vr`, then `Value` / `InlineBinary`, no
/// dictionaries of `Any` on the way. Rules:
///
/// * `"GGGGEEEE": {"vr": "..", "Value": [...]}`; an empty value has no
///   `Value` key; an empty value inside a multi-valued attribute is `null`
///   (F.2.5).
/// * PN values are objects with `Alphabetic`, `Ideographic` and `Phonetic`
///   strings; empty component groups are left out (F.2.2).
/// * IS and DS values are JSON numbers, written with the digits of the data
///   set when those already form a JSON number (`"0.30"` stays `0.30`), else
///   normalised (`+5` → `5`, `.5` → `0.5`, `007` → `7`); a value that is no
///   number at all is written as a string (F.2.3 allows a string).
/// * AT values are `"GGGGEEEE"` strings; FL, FD, SL, SS, UL, US, SV, UV are
///   numbers (a NaN or infinite float, which JSON cannot write, becomes the
///   string `"NaN"`, `"Infinity"` or `"-Infinity"`).
/// * OB, OD, OF, OL, OV, OW and UN values are `InlineBinary` base64 of the
///   value in little-endian byte order; encapsulated pixel data is the
///   base64 of its items (``EncapsulatedPixelData/encodedItems``).
/// * Sequences are `Value: [item objects]`; items inherit the character set.
/// * Text is decoded with the data set's Specific Character Set; bytes the
///   character set cannot decode become U+FFFD.
/// * By default an explicit UN element whose tag the dictionary knows gets its
///   dictionary VR back first (``Dataset/replacingUNWithKnownVR(sourceIsBigEndian:)``).
///
/// Group 0002 (file meta information) is not part of the JSON model; it is
/// written only when the data set given contains it. Group lengths
/// (gggg,0000) are written like any element, as pydicom does.
public enum DICOMJSON {
    public struct Options: Sendable, Hashable {
        /// Indent with two spaces, one attribute or value per line.
        public var pretty: Bool
        /// Give explicit UN elements of known tags their dictionary VR.
        public var replaceUNWithKnownVR: Bool

        public init(pretty: Bool = false, replaceUNWithKnownVR: Bool = true) {
            self.pretty = pretty
            self.replaceUNWithKnownVR = replaceUNWithKnownVR
        }
    }

    /// The data set as a DICOM JSON object.
    public static func encode(_ dataset: Dataset, pretty: Bool = false) -> String {
        encode(dataset, options: Options(pretty: pretty))
    }

    /// The data set as a DICOM JSON object.
    public static func encode(_ dataset: Dataset, options: Options) -> String {
        var writer = JSONTextWriter(pretty: options.pretty)
        writer.object(prepared(dataset, options: options, bigEndian: false))
        return writer.text
    }

    /// A file's data set as a DICOM JSON object; with `includeMeta` the file
    /// meta information (group 0002) comes first, in the same object.
    public static func encode(_ file: DICOMFile, includeMeta: Bool = false, options: Options = Options()) -> String {
        var writer = JSONTextWriter(pretty: options.pretty)
        writer.object(dataset(of: file, includeMeta: includeMeta, options: options))
        return writer.text
    }

    /// One entry of a JSON array describing several files:
    /// `{"path": "...", "dataset": {...}}`, indented for one level of
    /// nesting when pretty (the caller writes `[`, `,` and `]`).
    public static func fileEntry(path: String, file: DICOMFile, includeMeta: Bool = false, options: Options = Options()) -> String {
        var writer = JSONTextWriter(pretty: options.pretty)
        writer.level = 1
        writer.indent()
        writer.raw("{")
        writer.level = 2
        writer.newline()
        writer.string("path")
        writer.raw(options.pretty ? ": " : ":")
        writer.string(path)
        writer.raw(",")
        writer.newline()
        writer.string("dataset")
        writer.raw(options.pretty ? ": " : ":")
        writer.object(dataset(of: file, includeMeta: includeMeta, options: options))
        writer.level = 1
        writer.newline()
        writer.raw("}")
        return writer.text
    }

    /// The keys of PN component groups (F.2.2).
    static let personNameKeys = ["Alphabetic", "Ideographic", "Phonetic"]

    /// `text` as a JSON string literal (quotes included).
    public static func quoted(_ text: String) -> String {
        var writer = JSONTextWriter(pretty: false)
        writer.string(text)
        return writer.text
    }

    static func dataset(of file: DICOMFile, includeMeta: Bool, options: Options) -> Dataset {
        var dataset = prepared(file.dataset, options: options, bigEndian: file.transferSyntax.isBigEndian)
        if includeMeta {
            for element in file.meta.elements { dataset.set(element) }
        }
        return dataset
    }

    static func prepared(_ dataset: Dataset, options: Options, bigEndian: Bool) -> Dataset {
        options.replaceUNWithKnownVR ? dataset.replacingUNWithKnownVR(sourceIsBigEndian: bigEndian) : dataset
    }
}

// MARK: - Text output

/// Appends JSON text to a UTF-8 buffer.
struct JSONTextWriter {
    let pretty: Bool
    var bytes: [UInt8] = []
    var level = 0

    init(pretty: Bool) {
        self.pretty = pretty
        bytes.reserveCapacity(4096)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func indent() {
        guard pretty else { return }
        bytes.append(contentsOf: repeatElement(0x20, count: 2 * level))
    }

    mutating func newline() {
        guard pretty else { return }
        bytes.append(0x0A)
        indent()
    }

    mutating func key(_ k: String) {
        string(k)
        if pretty { raw(": ") } else { raw(":") }
    }

    mutating func string(_ s: String) {
        bytes.append(0x22)
        for byte in s.utf8 {
            switch byte {
            case 0x22: raw("\\\"")
            case 0x5C: raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0..<0x20:
                raw("\\u00")
                let digits: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
    }

    /// A data set as an attribute-keyed object.
    mutating func object(_ dataset: Dataset) {
        if dataset.isEmpty { raw("{}"); return }
        raw("{")
        level += 1
        var first = true
        for element in dataset.elements {
            if !first { raw(",") }
            first = false
            newline()
            key(element.tag.jsonKey)
            attribute(element, in: dataset)
        }
        level -= 1
        newline()
        raw("}")
    }

    /// `{"vr": "..", "Value": [...]}` for one element.
    mutating func attribute(_ element: DataElement, in dataset: Dataset) {
        raw("{")
        level += 1
        newline()
        key("vr")
        switch element.value {
        case .sequence(let items):
            string("SQ")
            if !items.isEmpty {
                raw(",")
                newline()
                key("Value")
                raw("[")
                level += 1
                for (index, item) in items.enumerated() {
                    if index > 0 { raw(",") }
                    newline()
                    object(item)
                }
                level -= 1
                newline()
                raw("]")
            }
        case .fragments(let encapsulated):
            string(element.vr.rawValue)
            inlineBinary(encapsulated.encodedItems)
        case .bytes(let data):
            string(element.vr.rawValue)
            if element.vr.isBulkBinary {
                if !data.isEmpty { inlineBinary(data) }
            } else {
                let values = dataset.modelValues(of: element)
                if !values.isEmpty {
                    raw(",")
                    newline()
                    key("Value")
                    valueArray(values)
                }
            }
        }
        level -= 1
        newline()
        raw("}")
    }

    mutating func inlineBinary(_ data: Data) {
        raw(",")
        newline()
        key("InlineBinary")
        bytes.append(0x22)
        bytes.append(contentsOf: data.base64EncodedData())
        bytes.append(0x22)
    }

    mutating func valueArray(_ values: [ModelValue]) {
        raw("[")
        level += 1
        for (index, value) in values.enumerated() {
            if index > 0 { raw(",") }
            newline()
            switch value {
            case .string(let s): string(s)
            case .number(let n): raw(n)
            case .null: raw("null")
            case .personName(let name):
                let groups = PersonName.Group.allCases.map { ($0, name[$0]) }.filter { !$0.1.isEmpty }
                if groups.isEmpty { raw("null"); continue }
                raw("{")
                level += 1
                for (index, (group, text)) in groups.enumerated() {
                    if index > 0 { raw(",") }
                    newline()
                    key(DICOMJSON.personNameKeys[group.rawValue])
                    string(text)
                }
                level -= 1
                newline()
                raw("}")
            }
        }
        level -= 1
        newline()
        raw("]")
    }
}
