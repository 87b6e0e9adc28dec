import Foundation

// Byte-level readers of the text values read from every header: the
// patient, study and series attributes of a scan, an import, the catalog.
//
// Each gives exactly what the general path gives (decode, split, trim,
// Foundation's `trimmingCharacters(in:)`), and takes that path whenever a
// value is not plain: bytes >= 0x80 or ESC (a character set decides), or
// `\` / `~` in a value that follows (0008,0005) (JIS X 0201 romaji reads
// them as ¥ and ‾). Plain values — UIDs, dates, codes, ASCII names, nearly
// everything on a disc — are cut and trimmed on their bytes: no decoding,
// no `Character` splitting, no NSString bridging.

/// What a plain value's bytes hold, after the trailing padding (spaces and
/// NULs) that `DICOMText.decode` drops.
@usableFromInline package enum PlainText {
    /// The value's bytes without trailing spaces and NULs, when every byte
    /// is one the general path would copy unchanged; nil otherwise.
    @inlinable @inline(__always)
    package static func plain(_ raw: UnsafeRawBufferPointer, vr: VR) -> UnsafeRawBufferPointer? {
        var end = raw.count
        while end > 0, raw[end - 1] == 0x20 || raw[end - 1] == 0x00 { end -= 1 }
        let charset = vr.usesSpecificCharacterSet
        for i in 0..<end {
            let byte = raw[i]
            if byte >= 0x80 || byte == 0x1B { return nil }
            if charset && (byte == 0x5C || byte == 0x7E) { return nil }
        }
        return UnsafeRawBufferPointer(rebasing: raw[0..<end])
    }

    /// VRs whose leading spaces are insignificant (`DICOMText.trim`).
    @inlinable @inline(__always)
    package static func trimsLeadingSpaces(_ vr: VR) -> Bool {
        switch vr {
        case .AE, .CS, .DS, .IS, .LO, .SH, .UC, .DT, .TM, .DA, .AS, .UI: return true
        default: return false
        }
    }

    /// `DICOMText.trim` on bytes: trailing spaces and NULs, and leading
    /// spaces for the VRs that allow it.
    @inlinable @inline(__always)
    package static func trimValue(_ bytes: UnsafeRawBufferPointer.SubSequence, vr: VR) -> UnsafeRawBufferPointer.SubSequence {
        var start = bytes.startIndex, end = bytes.endIndex
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x00 { end -= 1 }
        if trimsLeadingSpaces(vr) {
            while start < end, bytes[start] == 0x20 { start += 1 }
        }
        return bytes[start..<end]
    }

    /// Trims `set` bytes at both ends.
    @inlinable @inline(__always)
    package static func trim(_ bytes: UnsafeRawBufferPointer.SubSequence, _ isTrimmed: (UInt8) -> Bool) -> UnsafeRawBufferPointer.SubSequence {
        var start = bytes.startIndex, end = bytes.endIndex
        while end > start, isTrimmed(bytes[end - 1]) { end -= 1 }
        while start < end, isTrimmed(bytes[start]) { start += 1 }
        return bytes[start..<end]
    }

    /// The first value of plain text: up to the first `\` (all of it for
    /// LT, ST, UT, UR).
    @inlinable @inline(__always)
    package static func firstValue(_ text: UnsafeRawBufferPointer, vr: VR) -> UnsafeRawBufferPointer.SubSequence {
        let all = text[0..<text.count]
        guard !vr.isSingleValuedText, let base = text.baseAddress, let found = memchr(base, 0x5C, text.count) else { return all }
        return all[..<(UnsafeRawPointer(found) - base)]
    }

    @inlinable @inline(__always)
    package static func string(_ bytes: UnsafeRawBufferPointer.SubSequence) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes), as: UTF8.self)
    }

    /// Whether the value the readers make of `bytes` (nil when empty) is
    /// `expected`, byte for byte. (Plain bytes are ASCII: there byte
    /// equality is also String equality.)
    @inlinable @inline(__always)
    package static func value(_ bytes: UnsafeRawBufferPointer.SubSequence, is expected: String?) -> Bool {
        guard let expected else { return bytes.isEmpty }
        let count = bytes.count
        guard count > 0, count == expected.utf8.count else { return false }
        let base = UnsafeRawBufferPointer(rebasing: bytes).baseAddress!
        return expected.utf8.withContiguousStorageIfAvailable { memcmp(base, $0.baseAddress!, count) == 0 }
            ?? expected.utf8.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes))
    }

    @inlinable package static func isSpaceOrNUL(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x00 }
    /// `CharacterSet.whitespaces` restricted to ASCII: space and tab.
    @inlinable package static func isASCIIWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    /// `bytes` (UTF-8) without the white space ``trimmingWhitespaces(_:)``
    /// takes off: ASCII space and tab, and any other scalar in
    /// `CharacterSet.whitespaces` (asked only for a non-ASCII scalar at an end).
    package static func whitespaceTrimmedRange(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var start = 0
        var end = bytes.count
        while start < end {
            let byte = bytes[start]
            if PlainText.isASCIIWhitespace(byte) { start += 1; continue }
            guard byte >= 0xC0 else { break }
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
            guard start + length <= end, isWhitespace(bytes, start, start + length) else { break }
            start += length
        }
        while end > start {
            let byte = bytes[end - 1]
            if PlainText.isASCIIWhitespace(byte) { end -= 1; continue }
            guard byte >= 0x80 else { break }
            var lead = end - 1
            while lead > start, bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
            guard isWhitespace(bytes, lead, end) else { break }
            end = lead
        }
        return start..<end
    }

    /// Whether the one scalar encoded in `bytes[start..<end]` (two to four
    /// bytes) is in `CharacterSet.whitespaces`.
    private static func isWhitespace(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        let count = end - start
        guard count >= 2, count <= 4 else { return false }
        var value = UInt32(bytes[start] & (0x7F >> count))
        for index in start + 1..<end { value = value << 6 | UInt32(bytes[index] & 0x3F) }
        guard let scalar = Unicode.Scalar(value) else { return false }
        return whitespaces.contains(scalar)
    }

    private static let whitespaces = CharacterSet.whitespaces
}

/// The outcome of a byte-level read: a value, no element (or not one with
/// bytes: every general reader then gives nil or nothing), or "ask the
/// general path".
@usableFromInline package enum PlainRead<Value> {
    case value(Value)
    case absent
    case general
}

extension Dataset {
    /// Calls `body` with a reader of this data set's values that looks
    /// each one up in the parser's entries and reads it from the buffer,
    /// under one access to the buffer for all of them: a header summary
    /// or a DICOMDIR record reads a dozen or more values, and every
    /// `Data` access costs more than the lookup.
    @inlinable
    package func withPlainReader<R>(_ body: (PlainReader) -> R) -> R {
        // The reader points at this data set: a copy would retain and
        // release each of its references for every record of a DICOMDIR.
        withUnsafePointer(to: self) { dataset in
            guard let buffer = parsedBuffer else { return body(PlainReader(dataset: dataset, bytes: nil)) }
            return buffer.withUnsafeBytes { body(PlainReader(dataset: dataset, bytes: $0)) }
        }
    }

    /// The first value of a string element, trimmed as PS3.5 allows for
    /// its VR; nil when absent or empty.
    public func firstString(_ tag: Tag) -> String? { withPlainReader { $0.firstString(tag) } }

    /// The whole decoded value (all values, `\`-separated) trimmed of
    /// white space at both ends — spaces, tabs and the ideographic space
    /// U+3000 that Japanese systems pad names with (`CharacterSet.whitespaces`);
    /// nil when that leaves nothing. Names and descriptions as a catalog
    /// keeps them.
    public func trimmedText(_ tag: Tag) -> String? { withPlainReader { $0.trimmedText(tag) } }

    /// The first value as an integer: an IS value, or a decimal one such as
    /// `1.0` written where IS belongs (truncated toward zero), as real
    /// headers carry; nil when absent or not a finite number.
    public func integerValue(_ tag: Tag) -> Int? { withPlainReader { $0.integerValue(tag) } }
}

/// A data set's values read from its parser buffer, valid inside
/// ``Dataset/withPlainReader(_:)`` only. Values kept apart from the buffer
/// (and data sets that were edited) are read through the data set.
@usableFromInline package struct PlainReader {
    @usableFromInline let base: UnsafePointer<Dataset>
    @usableFromInline let bytes: UnsafeRawBufferPointer?

    @inlinable
    init(dataset: UnsafePointer<Dataset>, bytes: UnsafeRawBufferPointer?) {
        self.base = dataset
        self.bytes = bytes
    }

    /// The data set read (borrowed, not copied).
    @inlinable
    package var dataset: Dataset {
        _read { yield base.pointee }
    }

    /// ``Dataset/withValueBytes(_:_:)`` from the buffer.
    @inlinable
    package func withValueBytes<Result>(_ tag: Tag, _ body: (UnsafeRawBufferPointer, VR) -> Result) -> Result? {
        guard let bytes else { return dataset.withValueBytes(tag, body) }
        switch dataset.parsedValue(tag) {
        case .absent: return nil
        case .inBuffer(let range, let vr): return body(UnsafeRawBufferPointer(rebasing: bytes[range]), vr)
        case .elsewhere: return dataset.withValueBytes(tag, body)
        }
    }

    /// Runs `body` on the value bytes of a plain text element; `.absent`
    /// when there is no element with bytes, `.general` when it is not plain text.
    @inlinable @inline(__always)
    package func readPlain<Value>(_ tag: Tag, _ body: (UnsafeRawBufferPointer, VR) -> Value) -> PlainRead<Value> {
        let read = withValueBytes(tag) { raw, vr -> PlainRead<Value> in
            guard let text = PlainText.plain(raw, vr: vr) else { return .general }
            return .value(body(text, vr))
        }
        return read ?? .absent
    }

    /// ``Dataset/firstString(_:)``.
    package func firstString(_ tag: Tag) -> String? {
        let read = readPlain(tag) { text, vr -> String? in
            let value = PlainText.trimValue(PlainText.firstValue(text, vr: vr), vr: vr)
            return value.isEmpty ? nil : PlainText.string(value)
        }
        switch read {
        case .value(let value): return value
        case .absent: return nil
        case .general: return dataset.decodedFirstString(tag)
        }
    }

    /// ``Dataset/trimmedText(_:)``.
    package func trimmedText(_ tag: Tag) -> String? {
        let read = readPlain(tag) { text, _ -> String? in
            let value = PlainText.trim(text[0..<text.count], PlainText.isASCIIWhitespace)
            return value.isEmpty ? nil : PlainText.string(value)
        }
        switch read {
        case .value(let value): return value
        case .absent: return nil
        case .general: break
        }
        guard let value = dataset.string(tag) else { return nil }
        let trimmed = trimmingWhitespaces(value)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// ``Dataset/integerValue(_:)``.
    package func integerValue(_ tag: Tag) -> Int? {
        firstString(tag).flatMap { Int($0) ?? Double($0).flatMap { $0.isFinite && abs($0) < 9e18 ? Int($0) : nil } }
    }
}

/// `value.trimmingCharacters(in: .whitespaces)` (spaces, tabs, U+3000 and
/// the other Unicode space separators at either end), on the UTF-8 bytes:
/// Foundation is asked only about a non-ASCII scalar at an end.
package func trimmingWhitespaces(_ value: String) -> String {
    let utf8 = value.utf8
    guard let first = utf8.first, let last = utf8.last else { return value }
    if first < 0x80, last < 0x80, !PlainText.isASCIIWhitespace(first), !PlainText.isASCIIWhitespace(last) { return value }
    if let trimmed = utf8.withContiguousStorageIfAvailable({ bytes -> String? in
        let range = PlainText.whitespaceTrimmedRange(bytes)
        return range.count == bytes.count ? nil : String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }) {
        return trimmed ?? value
    }
    return value.trimmingCharacters(in: .whitespaces)
}

/// `value.trimmingCharacters(in: CharacterSet(charactersIn: " \0"))`,
/// without Foundation when there is nothing to trim or the value is ASCII.
package func trimmingSpacesAndNULs(_ value: String) -> String {
    trimming(value, ascii: PlainText.isSpaceOrNUL) { $0.trimmingCharacters(in: spaceAndNUL) }
}

private let spaceAndNUL = CharacterSet(charactersIn: " \0")

@inline(__always)
private func trimming(_ value: String, ascii isTrimmed: (UInt8) -> Bool, general: (String) -> String) -> String {
    let utf8 = value.utf8
    guard let first = utf8.first, let last = utf8.last else { return "" }
    // Both ends ASCII and kept: nothing to trim (the sets hold no other
    // character whose UTF-16 form starts or ends with an ASCII unit).
    if first < 0x80, last < 0x80, !isTrimmed(first), !isTrimmed(last) { return value }
    if utf8.allSatisfy({ $0 < 0x80 }) {
        var start = utf8.startIndex, end = utf8.endIndex
        while end > start, isTrimmed(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        while start < end, isTrimmed(utf8[start]) { start = utf8.index(after: start) }
        return String(value[start..<end])
    }
    return general(value)
}
