import DICOM
import Foundation

// The scan's comparisons and DICOMDIR readers on top of the byte-level
// text readers of the DICOM module (PlainText.swift there): a value
// compared with the one read from the file before, without making a String,
// and the Referenced File ID's components.

extension PlainReader {
    /// `same(firstString(tag), expected)`, where `same` holds byte for
    /// byte on a plain value: that value is compared on its bytes, no
    /// String made (`same` decides when the value is not plain).
    func firstString(_ tag: Tag, is expected: String?, by same: (String?, String?) -> Bool = sameBytes) -> Bool {
        let read = readPlain(tag) { text, vr -> Bool in
            PlainText.value(PlainText.trimValue(PlainText.firstValue(text, vr: vr), vr: vr), is: expected)
        }
        switch read {
        case .value(let equal): return equal
        case .absent: return expected == nil
        case .general: return same(dataset.firstString(tag), expected)
        }
    }

    /// `sameBytes(trimmedText(tag), expected)`, a plain value compared
    /// on its bytes.
    func trimmedText(_ tag: Tag, is expected: String?) -> Bool {
        let read = readPlain(tag) { text, _ -> Bool in
            PlainText.value(PlainText.trim(text[0..<text.count], PlainText.isASCIIWhitespace), is: expected)
        }
        switch read {
        case .value(let equal): return equal
        case .absent: return expected == nil
        case .general: return sameBytes(dataset.trimmedText(tag), expected)
        }
    }

    /// Exactly `firstString(tag)` trimmed of spaces and NULs at both ends,
    /// nil when that leaves nothing (DICOMDIR keys).
    func scanDirectoryString(_ tag: Tag) -> String? {
        let read = readPlain(tag) { text, vr -> String? in
            let value = PlainText.trim(PlainText.firstValue(text, vr: vr), PlainText.isSpaceOrNUL)
            return value.isEmpty ? nil : PlainText.string(value)
        }
        switch read {
        case .value(let value): return value
        case .absent: return nil
        case .general: break
        }
        guard let value = dataset.firstString(tag) else { return nil }
        let trimmed = trimmingSpacesAndNULs(value)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Exactly `strings(tag)`, each value split at `/` (empty pieces
    /// dropped) and trimmed of spaces and NULs (Referenced File ID).
    func scanFileIDComponents(_ tag: Tag) -> [String] {
        let read = readPlain(tag) { text, vr -> [String] in
            guard text.count > 0 else { return [] }
            var out: [String] = []
            let multiValued = !vr.isSingleValuedText
            var start = 0
            while start <= text.count {
                // One value: up to the next `\` (multi-valued VRs) or the end.
                var end = start
                if multiValued {
                    while end < text.count, text[end] != 0x5C { end += 1 }
                } else {
                    end = text.count
                }
                let value = PlainText.trimValue(text[start..<end], vr: vr)
                // Its pieces between `/`, empty ones dropped, each trimmed.
                var p = value.startIndex
                while p < value.endIndex {
                    var q = p
                    while q < value.endIndex, value[q] != 0x2F { q += 1 }
                    if q > p { out.append(PlainText.string(PlainText.trim(value[p..<q], PlainText.isSpaceOrNUL))) }
                    p = q + 1
                }
                start = end + 1
            }
            return out
        }
        switch read {
        case .value(let value): return value
        case .absent: return []
        case .general: break
        }
        return dataset.strings(tag)
            .flatMap { $0.split(whereSeparator: { $0 == "/" }).map(String.init) }
            .map(trimmingSpacesAndNULs)
    }

    /// `scanFileIDComponents(tag).joined(separator: "\\")` when the value
    /// is that already (``FileIDResolver/isPlainJoined(_:)``, trailing
    /// padding aside); nil for any other value. The string is then made
    /// from the bytes as they are, not cut into an array of components and
    /// joined again.
    func scanPlainFileID(_ tag: Tag) -> String? {
        let read = readPlain(tag) { text, vr -> String? in
            guard !vr.isSingleValuedText else { return nil }
            var end = text.count
            while end > 0, text[end - 1] == 0x20 || text[end - 1] == 0x00 { end -= 1 }
            let value = text[0..<end]
            return FileIDResolver.isPlainJoined(UnsafeRawBufferPointer(rebasing: value)) ? PlainText.string(value) : nil
        }
        if case .value(let value) = read { return value }
        return nil
    }

    /// Whether `decodedText(tag)` would report character-set problems
    /// (plain values never have any).
    func hasUndecodableText(_ tag: Tag) -> Bool {
        switch readPlain(tag, { _, _ in () }) {
        case .value, .absent: return false
        case .general: break
        }
        guard let decoded = dataset.decodedText(tag) else { return false }
        return !decoded.problems.isEmpty
    }
}

/// The readers above on a data set: each value under its own access to
/// the buffer (read several with ``Dataset/withPlainReader(_:)``).
extension Dataset {
    func firstString(_ tag: Tag, is expected: String?, by same: (String?, String?) -> Bool = sameBytes) -> Bool {
        withPlainReader { $0.firstString(tag, is: expected, by: same) }
    }
    func trimmedText(_ tag: Tag, is expected: String?) -> Bool { withPlainReader { $0.trimmedText(tag, is: expected) } }
    func scanDirectoryString(_ tag: Tag) -> String? { withPlainReader { $0.scanDirectoryString(tag) } }
    func scanFileIDComponents(_ tag: Tag) -> [String] { withPlainReader { $0.scanFileIDComponents(tag) } }
    func hasUndecodableText(_ tag: Tag) -> Bool { withPlainReader { $0.hasUndecodableText(tag) } }
}
