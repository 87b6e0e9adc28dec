import Foundation

/// Text values: decoding with the character set, splitting into values,
/// trimming padding (PS3.5 §6.2).
public enum DICOMText {
    /// Decodes an element value's bytes with `characterSet` (default
    /// repertoire for VRs that do not use it), dropping trailing padding.
    public static func decode(_ data: Data, vr: VR, characterSet: SpecificCharacterSet) -> (text: String, problems: [CharacterSetError]) {
        var end = data.endIndex
        while end > data.startIndex, data[end - 1] == 0x20 || data[end - 1] == 0x00 { end -= 1 }
        let bytes = data[data.startIndex..<end]
        // Pure ASCII needs no character set, except where G0 is JIS X 0201
        // romaji (ISO_IR 13: 0x5C is ¥, 0x7E is ‾).
        let romajiG0 = vr.usesSpecificCharacterSet && characterSet.terms.first.map { $0.hasSuffix("IR 13") } == true
        if !romajiG0 {
            // Through the raw buffer: Data's own iterator costs a call per byte.
            let ascii = bytes.withUnsafeBytes { raw in raw.allSatisfy { $0 < 0x80 && $0 != 0x1B } }
            if ascii { return (bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, []) }
        }
        let set = vr.usesSpecificCharacterSet ? characterSet : .default
        return set.decodeLossy(bytes, vr: vr)
    }

    /// Splits decoded text into values at `\` (not for LT, ST, UT, UR) and
    /// trims what PS3.5 calls insignificant spaces for the VR.
    public static func values(of text: String, vr: VR) -> [String] {
        if text.isEmpty { return [] }
        let parts = vr.isSingleValuedText ? [Substring(text)] : text.split(separator: "\\", omittingEmptySubsequences: false)
        return parts.map { trim(String($0), vr: vr) }
    }

    /// Leading spaces are insignificant for AE, CS, DS, IS, LO, SH, UC, DT,
    /// TM, DA; trailing spaces and NULs for every string VR.
    public static func trim(_ value: String, vr: VR) -> String {
        // Spaces and NULs are single UTF-8 bytes, so the UTF-8 view finds the
        // cut points, and they fall on scalar boundaries (the hot path of
        // every string read: no per-scalar String mutation).
        let utf8 = value.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while end > start {
            let before = utf8.index(before: end)
            let byte = utf8[before]
            guard byte == 0x20 || byte == 0x00 else { break }
            end = before
        }
        switch vr {
        case .AE, .CS, .DS, .IS, .LO, .SH, .UC, .DT, .TM, .DA, .AS, .UI:
            while start < end, utf8[start] == 0x20 { start = utf8.index(after: start) }
        default: break
        }
        if start == utf8.startIndex && end == utf8.endIndex { return value }
        return String(value[start..<end])
    }

    /// Why `value` cannot be written as one value of `vr`, or nil when it
    /// can (PS3.5 6.2): a backslash, the value delimiter of every string VR
    /// but LT, ST, UT and UR; a control character, C0, DEL or C1 (CR, LF and
    /// FF are text in LT, ST and UT; ESC is never typed: the encoder writes it); more
    /// characters than the VR holds (a PN by component group). For values a
    /// person or a manifest gives, checked before anything is written.
    public static func singleValueProblem(_ value: String, vr: VR) -> String? {
        if !vr.isSingleValuedText, value.contains("\\") {
            return "a backslash separates values in DICOM (\(vr.rawValue)); one value has none"
        }
        let textControls: Set<Unicode.Scalar> = ["\r", "\n", "\u{0C}"]
        let allowsText = vr == .LT || vr == .ST || vr == .UT
        if let control = value.unicodeScalars.first(where: {
            $0.properties.generalCategory == .control && !(allowsText && textControls.contains($0))
        }) {
            return "control character U+\(String(control.value, radix: 16, uppercase: true).leftPadded(to: 4)) is not allowed in \(vr.rawValue)"
        }
        let limit: Int? = switch vr {
        case .AE, .CS, .DS, .SH: 16
        case .LO, .UI, .PN: 64
        case .ST: 1024
        case .LT: 10240
        case .IS: 12
        case .DA: 8
        case .TM: 14
        case .DT: 26
        case .AS: 4
        default: nil
        }
        if let limit {
            let parts = vr == .PN ? value.split(separator: "=", omittingEmptySubsequences: false) : [Substring(value)]
            if let long = parts.first(where: { $0.unicodeScalars.count > limit }) {
                return vr == .PN
                    ? "a name's component group holds at most \(limit) characters (\"\(long)\" has \(long.unicodeScalars.count))"
                    : "at most \(limit) characters in \(vr.rawValue) (this has \(value.unicodeScalars.count))"
            }
        }
        return nil
    }

    /// A DA value `YYYYMMDD` that names a real day (years 1850 on).
    public static func isDate(_ text: String) -> Bool {
        guard text.utf8.count == 8 else { return false }
        // Over the bytes in place (iterating a small string's UTF8View
        // costs more than the rest of the check).
        var text = text
        let value = text.withUTF8 { bytes -> Int? in
            var value = 0
            for byte in bytes {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let value else { return false }
        let year = value / 10000, month = value / 100 % 100, day = value % 100
        guard year >= 1850, (1...12).contains(month), day >= 1 else { return false }
        let days: Int
        switch month {
        case 2: days = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: days = 30
        default: days = 31
        }
        return day <= days
    }

    /// Why one value is not of the form its VR defines (PS3.5 §6.2), for
    /// the VRs of fixed form: DA, TM, CS, UI, IS, DS; nil when it is (or
    /// the VR has no fixed form). Said after the value: `is not a date YYYYMMDD`.
    public static func formatProblem(_ value: String, vr: VR) -> String? {
        let bytes = Array(value.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count, bytes[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return bytes[range].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        switch vr {
        case .DA:
            guard bytes.count == 8, digits(0 ..< 8) != nil, let month = digits(4 ..< 6), let day = digits(6 ..< 8),
                  (1 ... 12).contains(month), (1 ... 31).contains(day) else { return "is not a date YYYYMMDD" }
        case .TM:
            var ok = [2, 4, 6].contains(bytes.count) || (bytes.count > 7 && bytes.count <= 13 && bytes[6] == UInt8(ascii: "."))
            if ok, let hour = digits(0 ..< 2) { ok = hour <= 23 } else { ok = false }
            if ok, bytes.count >= 4 { ok = (digits(2 ..< 4) ?? 99) <= 59 }
            if ok, bytes.count >= 6 { ok = (digits(4 ..< 6) ?? 99) <= 60 }
            if ok, bytes.count > 7 { ok = digits(7 ..< bytes.count) != nil }
            if !ok { return "is not a time HHMMSS.FFFFFF" }
        case .CS:
            if bytes.count > 16 { return "is longer than 16 characters" }
            if !bytes.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x20 || $0 == 0x5F }) {
                return "holds characters other than A–Z, 0–9, space and _"
            }
        case .UI:
            if !UID.isValid(value) { return "is not a UID (PS3.5 §9.1)" }
        case .IS:
            var body = Substring(value)
            if body.first == "+" || body.first == "-" { body = body.dropFirst() }
            if bytes.count > 12 || body.isEmpty || !body.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return "is not an integer string" }
        case .DS:
            if bytes.count > 16 || Double(value) == nil || value.contains(where: { $0.isLetter && $0 != "e" && $0 != "E" }) {
                return "is not a decimal string"
            }
        default:
            break
        }
        return nil
    }

    /// A DA value as people read it: `20240115` → `2024-01-15` when it
    /// names a real day (``isDate(_:)``); anything else as written.
    public static func displayDate(_ da: String) -> String {
        guard isDate(da) else { return da }
        let digits = Array(da)
        return String(digits[0..<4]) + "-" + String(digits[4..<6]) + "-" + String(digits[6..<8])
    }

    /// Values of a default-repertoire element straight from its bytes
    /// (used for (0008,0005) itself).
    public static func splitDefaultRepertoire(_ data: Data) -> [String] {
        let text = String(decoding: data, as: UTF8.self)
        return values(of: text, vr: .CS)
    }
}

/// Binary values: integers and floats from little-endian bytes, and back.
public enum DICOMBinary {
    /// Bytes as lower-case hexadecimal (digests in the catalog and reports).
    @inlinable
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        // Inlinable: specialised where it is called (a hash digest per
        // stored instance), not walked through protocol witnesses.
        var out: [UInt8] = []
        out.reserveCapacity(2 * Swift.max(bytes.underestimatedCount, 32))
        for byte in bytes {
            let high = byte >> 4, low = byte & 0x0F
            out.append(high < 10 ? 0x30 + high : 0x57 + high)
            out.append(low < 10 ? 0x30 + low : 0x57 + low)
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func integers(_ data: Data, vr: VR) -> [Int] {
        switch vr {
        case .US, .OW: return read(data, UInt16.self).map(Int.init)
        case .SS: return read(data, Int16.self).map(Int.init)
        case .UL, .OL: return read(data, UInt32.self).map(Int.init)
        case .SL: return read(data, Int32.self).map(Int.init)
        case .UV, .OV: return read(data, UInt64.self).map { Int(truncatingIfNeeded: $0) }
        case .SV: return read(data, Int64.self).map(Int.init)
        case .AT:
            return read(data, UInt16.self).chunked2().map { Int(UInt32($0.0) << 16 | UInt32($0.1)) }
        case .IS, .DS:
            return DICOMText.values(of: String(decoding: data, as: UTF8.self), vr: vr).compactMap { value in
                Int(value) ?? Double(value).flatMap { $0.isFinite && $0 == $0.rounded() && abs($0) < 9.2e18 ? Int($0) : nil }
            }
        case .OB, .UN: return data.map(Int.init)
        default: return []
        }
    }

    public static func doubles(_ data: Data, vr: VR) -> [Double] {
        switch vr {
        case .FL, .OF: return read(data, Float.self).map(Double.init)
        case .FD, .OD: return read(data, Double.self)
        case .DS, .IS:
            return DICOMText.values(of: String(decoding: data, as: UTF8.self), vr: vr).compactMap { Double($0) }
        default: return integers(data, vr: vr).map(Double.init)
        }
    }

    /// Little-endian bytes of integer values for a binary VR.
    public static func encode(integers values: [Int], vr: VR) -> Data {
        var out = Data()
        for value in values {
            switch vr {
            case .US, .OW: append(&out, UInt16(truncatingIfNeeded: value))
            case .SS: append(&out, Int16(truncatingIfNeeded: value))
            case .UL, .OL: append(&out, UInt32(truncatingIfNeeded: value))
            case .SL: append(&out, Int32(truncatingIfNeeded: value))
            case .UV, .OV: append(&out, UInt64(truncatingIfNeeded: value))
            case .SV: append(&out, Int64(value))
            case .AT:
                append(&out, UInt16(truncatingIfNeeded: value >> 16))
                append(&out, UInt16(truncatingIfNeeded: value))
            default:
                out.append(UInt8(truncatingIfNeeded: value))
            }
        }
        return out
    }

    static func append<T: FixedWidthInteger>(_ out: inout Data, _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Values of a fixed-size little-endian type; trailing bytes that do
    /// not make a whole value are ignored.
    static func read<T>(_ data: Data, _ type: T.Type) -> [T] {
        let size = MemoryLayout<T>.size
        let count = data.count / size
        return data.withUnsafeBytes { raw in
            (0..<count).map { i -> T in
                let value = raw.loadUnaligned(fromByteOffset: i * size, as: T.self)
                return littleEndian(value)
            }
        }
    }

    private static func littleEndian<T>(_ value: T) -> T {
        #if _endian(big)
        var copy = value
        withUnsafeMutableBytes(of: &copy) { $0.reverse() }
        return copy
        #else
        return value
        #endif
    }
}

private extension Array {
    func chunked2() -> [(Element, Element)] {
        stride(from: 0, to: count - 1, by: 2).map { (self[$0], self[$0 + 1]) }
    }
}
