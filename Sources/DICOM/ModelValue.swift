import Foundation

/// One value of an attribute as the DICOM JSON model (PS3.18 Annex F) and
/// the Native DICOM Model (PS3.19) see it: decoded text, a number literal,
/// a person name, or an empty value inside a multi-valued attribute.
public enum ModelValue: Sendable, Hashable {
    case string(String)
    /// A number as JSON writes it (validated against JSON's grammar).
    case number(String)
    /// A PN value (its alphabetic, ideographic and phonetic groups).
    case personName(PersonName)
    /// An empty value of a multi-valued attribute (`a\\b` has an empty second value).
    case null

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension Dataset {
    /// The values of one of this data set's elements in the JSON/XML models:
    /// text decoded with the data set's character set, split at `\` and
    /// trimmed; IS and DS as number literals (strings when they are no
    /// number); AT as `GGGGEEEE`; binary numbers as decimal literals.
    ///
    /// Empty for sequences, encapsulated data, binary VRs (OB, OW, UN, ...)
    /// and empty elements. A single value that is empty after trimming makes
    /// the element empty; empty values among several are ``ModelValue/null``.
    public func modelValues(of element: DataElement) -> [ModelValue] {
        guard let data = element.bytes, !element.vr.isBulkBinary, element.vr != .SQ else { return [] }
        let values = ModelValues.values(of: element, data: data, in: self)
        if values.count == 1, values[0].isNull { return [] }
        return values
    }
}

enum ModelValues {
    /// The values of a non-sequence, non-binary element, decoded.
    static func values(of element: DataElement, data: Data, in dataset: Dataset) -> [ModelValue] {
        let vr = element.vr
        if vr.isString {
            let texts = dataset.characterSetStrings(data, vr: vr)
            return texts.map { text in
                if text.isEmpty { return .null }
                switch vr {
                case .IS: return integerString(text).map(ModelValue.number) ?? .string(text)
                case .DS: return decimalString(text).map(ModelValue.number) ?? .string(text)
                case .PN: return .personName(PersonName(text))
                default: return .string(text)
                }
            }
        }
        switch vr {
        case .AT:
            return DICOMBinary.read(data, UInt16.self).pairs().map { .string(Tag.hex4($0.0) + Tag.hex4($0.1)) }
        case .US: return DICOMBinary.read(data, UInt16.self).map { .number(String($0)) }
        case .SS: return DICOMBinary.read(data, Int16.self).map { .number(String($0)) }
        case .UL: return DICOMBinary.read(data, UInt32.self).map { .number(String($0)) }
        case .SL: return DICOMBinary.read(data, Int32.self).map { .number(String($0)) }
        case .UV: return DICOMBinary.read(data, UInt64.self).map { .number(String($0)) }
        case .SV: return DICOMBinary.read(data, Int64.self).map { .number(String($0)) }
        case .FL: return DICOMBinary.read(data, Float.self).map { float(Double($0), text: $0.description) }
        case .FD: return DICOMBinary.read(data, Double.self).map { float($0, text: $0.description) }
        default: return []
        }
    }

    /// JSON cannot write NaN or infinities: they become strings.
    static func float(_ value: Double, text: String) -> ModelValue {
        if value.isNaN { return .string("NaN") }
        if value.isInfinite { return .string(value < 0 ? "-Infinity" : "Infinity") }
        return .number(text)
    }

    /// An IS value as a JSON integer literal, or nil when it is no integer.
    static func integerString(_ text: String) -> String? {
        if isJSONNumber(text), !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return text }
        guard text.utf8.allSatisfy({ numberCharacter($0) }) else { return nil }
        if let value = Int(text) { return String(value) }
        // "12.0", "1e2": whole numbers written as decimals.
        if let value = Double(text), value.isFinite, value == value.rounded(), abs(value) < 1e15 {
            return String(Int(value))
        }
        return nil
    }

    /// A DS value as a JSON number literal, or nil when it is no number.
    static func decimalString(_ text: String) -> String? {
        if isJSONNumber(text) { return text }
        guard text.utf8.allSatisfy({ numberCharacter($0) }), let value = Double(text), value.isFinite else { return nil }
        return canonicalNumber(text) ?? value.description
    }

    private static func numberCharacter(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2D || c == 0x2E || c == 0x45 || c == 0x65
    }

    /// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isJSONNumber(_ text: String) -> Bool {
        let s = Array(text.utf8)
        var i = 0
        func digits() -> Int {
            let start = i
            while i < s.count, s[i] >= 0x30, s[i] <= 0x39 { i += 1 }
            return i - start
        }
        if i < s.count, s[i] == 0x2D { i += 1 }
        guard i < s.count else { return false }
        if s[i] == 0x30 { i += 1 } else if digits() == 0 { return false }
        if i < s.count, s[i] == 0x2E {
            i += 1
            if digits() == 0 { return false }
        }
        if i < s.count, s[i] == 0x45 || s[i] == 0x65 {
            i += 1
            if i < s.count, s[i] == 0x2B || s[i] == 0x2D { i += 1 }
            if digits() == 0 { return false }
        }
        return i == s.count
    }

    /// Rewrites a decimal string that is a number but not a JSON number
    /// (`+1.5`, `.5`, `5.`, `007`, `1.e3`) keeping its digits.
    static func canonicalNumber(_ text: String) -> String? {
        var s = Substring(text)
        var sign = ""
        if s.first == "+" { s = s.dropFirst() } else if s.first == "-" { sign = "-"; s = s.dropFirst() }
        var mantissa = s
        var exponent: Substring = ""
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = s[..<e]
            exponent = s[s.index(after: e)...]
        }
        var integer = mantissa
        var fraction: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            integer = mantissa[..<dot]
            fraction = mantissa[mantissa.index(after: dot)...]
        }
        guard !(integer.isEmpty && fraction.isEmpty) else { return nil }
        while integer.count > 1, integer.first == "0" { integer = integer.dropFirst() }
        var out = sign + (integer.isEmpty ? "0" : String(integer))
        if !fraction.isEmpty { out += "." + fraction }
        if !exponent.isEmpty {
            var expSign = ""
            if exponent.first == "+" || exponent.first == "-" {
                if exponent.first == "-" { expSign = "-" }
                exponent = exponent.dropFirst()
            }
            guard !exponent.isEmpty else { return nil }
            out += "e" + expSign + exponent
        }
        return isJSONNumber(out) ? out : nil
    }
}

extension Dataset {
    /// The values of a string element's bytes, decoded with this data set's
    /// character set, split and trimmed (empty values kept as "").
    func characterSetStrings(_ data: Data, vr: VR) -> [String] {
        let text = DICOMText.decode(data, vr: vr, characterSet: characterSet).text
        return DICOMText.values(of: text, vr: vr)
    }
}

private extension Array {
    func pairs() -> [(Element, Element)] {
        stride(from: 0, to: count - 1, by: 2).map { (self[$0], self[$0 + 1]) }
    }
}
