import Foundation

/// What a conversion needs to know about a PDF before wrapping it, read from
/// its file structure (ISO 32000-1 §7.5) without a PDF library:
///
/// - it is a PDF and complete: `%PDF-` in the first 1024 bytes, `%%EOF`
///   in the last 1024 (a download cut short lacks it);
/// - it is not encrypted: no `/Encrypt` entry in a trailer or
///   cross-reference stream dictionary (a password-protected PDF in a
///   patient record is unreadable to the receiving side);
/// - the document information dictionary's `/Title` and `/CreationDate`:
///   the newest trailer's `/Info` resolved through the cross-reference
///   (tables or PDF 1.5 cross-reference streams, `/Prev` chains), also
///   when the dictionary sits in a compressed object stream
///   (``PDFCrossReference``); where the cross-reference is damaged, the
///   last `n g obj` of the object `/Info` names, searched as text.
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
        let xref = try? PDFCrossReference(bytes)
        if PDFDocumentInfo.isEncrypted(bytes) || xref?.trailer["Encrypt"] != nil {
            throw ConvertError(.encrypted, "encrypted PDF (/Encrypt in the trailer): the receiving side could not open it; save it without password protection first; not converted", path: path)
        }
        title = nil
        creationDateTime = nil
        if let info = PDFDocumentInfo.infoDictionary(bytes, xref: xref) {
            // A value may itself be an indirect object.
            func text(_ key: String) -> [UInt8]? {
                switch info[key] {
                case .string(let raw)?: return raw
                case .reference(let number, _)?: if case .string(let raw)? = try? xref?.object(number) { return raw } else { return nil }
                default: return nil
                }
            }
            if let raw = text("Title") {
                title = PDFDocumentInfo.decodeText(raw).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if title?.isEmpty == true { title = nil }
            if let raw = text("CreationDate") {
                let digits = PDFDocumentInfo.decodeText(raw).drop(while: { !$0.isNumber }).prefix(while: \.isNumber)
                if digits.count >= 8 { creationDateTime = String((digits + "000000").prefix(14)) }
            }
        }
    }

    /// Start of the last `needle` in the last `within` bytes.
    static func lastOccurrence(_ needle: [UInt8], in bytes: [UInt8], within: Int) -> Int? {
        let from = max(0, bytes.count - within)
        var i = bytes.count - needle.count
        while i >= from {
            if bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i -= 1
        }
        return nil
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

    /// `/Encrypt` as a key of a dictionary that also has `/Root` (trailer
    /// or cross-reference stream), not text that mentions the word.
    static func isEncrypted(_ bytes: [UInt8]) -> Bool {
        for i in occurrences(Array("/Encrypt".utf8), in: bytes) {
            let after = i + 8
            guard after < bytes.count, PDFLexer.isDelimiter(bytes[after]) else { continue }
            let window = Array(bytes[max(0, i - 4096)..<min(bytes.count, i + 4096)])
            if find(Array("/Root".utf8), in: window) != nil { return true }
        }
        return false
    }

    /// The document information dictionary: through the cross-reference
    /// (``PDFCrossReference``), else the last `n g obj` of the object the
    /// last `/Info n g R` names.
    static func infoDictionary(_ bytes: [UInt8], xref: PDFCrossReference?) -> PDFObject? {
        if let xref, case .reference(let number, _)? = xref.trailer["Info"],
           let info = try? xref.object(number), info.dictionary != nil {
            return info
        }
        for i in occurrences(Array("/Info".utf8), in: bytes).reversed() {
            var lexer = PDFLexer(bytes, at: i + 5)
            guard case .reference(let object, let generation)? = lexer.object() else { continue }
            // The last definition wins (incremental updates append).
            let marker = Array("\(object) \(generation) obj".utf8)
            for start in occurrences(marker, in: bytes).reversed() {
                if start > 0, bytes[start - 1] >= 0x30, bytes[start - 1] <= 0x39 { continue }   // "11 0 obj" for "1 0 obj"
                var body = PDFLexer(bytes, at: start + marker.count)
                if let info = body.object(), info.dictionary != nil { return info }
            }
        }
        return nil
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
