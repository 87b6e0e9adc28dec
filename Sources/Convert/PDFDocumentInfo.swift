import Foundation

/// What a conversion needs to know about a PDF before wrapping it, read from
/// its file structure (ISO 32000-1 §7.5) without a PDF library:
///
/// - it is a PDF and complete: `%PDF-` in the first 1024 bytes, `%%EOF`
///   in the last 1024 (a download cut short lacks it);
/// - it is not encrypted: no `/Encrypt` entry in a trailer or
///   cross-reference stream dictionary (a password-protected PDF in a
///   patient record is unreadable to the receiving side);
/// - the document information dictionary's `/Title` and `/CreationDate`,
///   when the trailer's `/Info` names an object stored uncompressed (the
///   usual case; inside an object stream they are not found and the file
///   name and modification time are used instead).
public struct PDFDocumentInfo: Sendable, Hashable {
    public var version: String
    public var title: String?
    /// `YYYYMMDDHHMMSS` (local time as the PDF gives it).
    public var creationDateTime: String?

    public init(_ data: Data, path: String? = nil) throws(ConvertError) {
        let bytes = [UInt8](data)
        guard let header = PDFDocumentInfo.find(Array("%PDF-".utf8), in: bytes.prefix(1024)) else {
            throw ConvertError(.damaged, "not a PDF: no %PDF- header in the first 1024 bytes (damaged or mislabelled file); not converted", path: path)
        }
        let versionBytes = bytes[(header + 5)...].prefix(while: { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E })
        version = String(decoding: versionBytes, as: UTF8.self)
        guard PDFDocumentInfo.find(Array("%%EOF".utf8), in: bytes.suffix(1024)) != nil else {
            throw ConvertError(.damaged, "damaged PDF: no %%EOF end marker (truncated download or copy); not converted", path: path)
        }
        if PDFDocumentInfo.isEncrypted(bytes) {
            throw ConvertError(.encrypted, "encrypted PDF (/Encrypt in the trailer): the receiving side could not open it; save it without password protection first; not converted", path: path)
        }
        title = nil
        creationDateTime = nil
        if let info = PDFDocumentInfo.infoDictionary(bytes) {
            title = PDFDocumentInfo.stringValue(of: "/Title", in: info).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            if title?.isEmpty == true { title = nil }
            if let date = PDFDocumentInfo.stringValue(of: "/CreationDate", in: info) {
                let digits = date.drop(while: { !$0.isNumber }).prefix(while: \.isNumber)
                if digits.count >= 8 { creationDateTime = String((digits + "000000").prefix(14)) }
            }
        }
    }

    /// First index of `needle` in `haystack` (indices of `haystack`).
    static func find<C: Collection>(_ needle: [UInt8], in haystack: C, from start: C.Index? = nil) -> C.Index?
    where C.Element == UInt8 {
        guard !needle.isEmpty else { return nil }
        var i = start ?? haystack.startIndex
        while i != haystack.endIndex {
            if haystack[i] == needle[0] {
                var j = i, k = 0
                while k < needle.count, j != haystack.endIndex, haystack[j] == needle[k] { j = haystack.index(after: j); k += 1 }
                if k == needle.count { return i }
            }
            i = haystack.index(after: i)
        }
        return nil
    }

    static func occurrences(_ needle: [UInt8], in bytes: [UInt8]) -> [Int] {
        var found: [Int] = []
        var from = 0
        while from < bytes.count, let i = find(needle, in: bytes, from: from) {
            found.append(i)
            from = i + 1
        }
        return found
    }

    private static func isDelimiter(_ b: UInt8) -> Bool {
        [0x20, 0x0A, 0x0D, 0x09, 0x0C, 0x00, 0x2F, 0x3C, 0x3E, 0x5B, 0x5D, 0x28, 0x29].contains(b)
    }

    /// `/Encrypt` as a key of a dictionary that also has `/Root` (trailer
    /// or cross-reference stream), not text that mentions the word.
    static func isEncrypted(_ bytes: [UInt8]) -> Bool {
        for i in occurrences(Array("/Encrypt".utf8), in: bytes) {
            let after = i + 8
            guard after < bytes.count, isDelimiter(bytes[after]) else { continue }
            let window = Array(bytes[max(0, i - 4096)..<min(bytes.count, i + 4096)])
            if find(Array("/Root".utf8), in: window) != nil { return true }
        }
        return false
    }

    /// The bytes of the object the last `/Info n g R` refers to.
    static func infoDictionary(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        for i in occurrences(Array("/Info".utf8), in: bytes).reversed() {
            var j = i + 5
            func skipSpace() { while j < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[j]) { j += 1 } }
            func number() -> String? {
                let start = j
                while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39 { j += 1 }
                return j > start ? String(decoding: bytes[start..<j], as: UTF8.self) : nil
            }
            skipSpace()
            guard let object = number() else { continue }
            skipSpace()
            guard let generation = number() else { continue }
            skipSpace()
            guard j < bytes.count, bytes[j] == 0x52 else { continue }   // R
            // The last definition wins (incremental updates append).
            let marker = Array("\(object) \(generation) obj".utf8)
            for start in occurrences(marker, in: bytes).reversed() {
                if start > 0, bytes[start - 1] >= 0x30, bytes[start - 1] <= 0x39 { continue }   // "11 0 obj" for "1 0 obj"
                let end = find(Array("endobj".utf8), in: bytes, from: start) ?? min(bytes.count, start + 65536)
                return bytes[start..<end]
            }
        }
        return nil
    }

    /// The text of a string value (literal or hexadecimal) after `key`.
    static func stringValue(of key: String, in dictionary: ArraySlice<UInt8>) -> String? {
        let keyBytes = Array(key.utf8)
        var from = dictionary.startIndex
        while let at = find(keyBytes, in: dictionary, from: from) {
            var j = at + keyBytes.count
            from = at + 1
            guard j < dictionary.endIndex, isDelimiter(dictionary[j]) else { continue }
            while j < dictionary.endIndex, [0x20, 0x0A, 0x0D, 0x09].contains(dictionary[j]) { j += 1 }
            guard j < dictionary.endIndex else { return nil }
            var raw: [UInt8] = []
            if dictionary[j] == 0x28 {   // (literal)
                var depth = 1
                j += 1
                while j < dictionary.endIndex, depth > 0 {
                    let b = dictionary[j]
                    if b == 0x5C, j + 1 < dictionary.endIndex {
                        j += 1
                        let e = dictionary[j]
                        switch e {
                        case 0x6E: raw.append(0x0A)
                        case 0x72: raw.append(0x0D)
                        case 0x74: raw.append(0x09)
                        case 0x62: raw.append(0x08)
                        case 0x66: raw.append(0x0C)
                        case 0x0A: break
                        case 0x0D: if j + 1 < dictionary.endIndex, dictionary[j + 1] == 0x0A { j += 1 }
                        case 0x30...0x37:
                            var value = 0, n = 0
                            while n < 3, j < dictionary.endIndex, (0x30...0x37).contains(dictionary[j]) {
                                value = value * 8 + Int(dictionary[j] - 0x30); j += 1; n += 1
                            }
                            raw.append(UInt8(truncatingIfNeeded: value))
                            continue
                        default: raw.append(e)
                        }
                        j += 1
                        continue
                    }
                    if b == 0x28 { depth += 1 }
                    if b == 0x29 { depth -= 1; if depth == 0 { break } }
                    raw.append(b)
                    j += 1
                }
            } else if dictionary[j] == 0x3C {   // <hex>
                var digits: [UInt8] = []
                j += 1
                while j < dictionary.endIndex, dictionary[j] != 0x3E {
                    if let v = hexValue(dictionary[j]) { digits.append(v) }
                    j += 1
                }
                if digits.count % 2 == 1 { digits.append(0) }
                raw = stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
            } else {
                return nil
            }
            return decodeText(raw)
        }
        return nil
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }

    /// PDF text strings: UTF-16BE with BOM, UTF-8 with BOM (PDF 2.0), else
    /// PDFDocEncoding (Latin-1 for the printable range).
    static func decodeText(_ raw: [UInt8]) -> String {
        if raw.count >= 2, raw[0] == 0xFE, raw[1] == 0xFF {
            let units = stride(from: 2, to: raw.count - 1, by: 2).map { UInt16(raw[$0]) << 8 | UInt16(raw[$0 + 1]) }
            return String(decoding: units, as: UTF16.self)
        }
        if raw.count >= 3, raw[0] == 0xEF, raw[1] == 0xBB, raw[2] == 0xBF {
            return String(decoding: raw.dropFirst(3), as: UTF8.self)
        }
        return String(raw.map { Character(Unicode.Scalar($0)) })
    }
}
