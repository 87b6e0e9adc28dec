import Foundation

/// One element of a data set: tag, VR and value.
///
/// Values keep the bytes as they were read (binary values in little-endian
/// order), so an element that nobody touched is written back byte for byte.
/// Use the typed accessors on ``Dataset`` to read them as strings or numbers.
public struct DataElement: Sendable {
    public var tag: Tag
    public var vr: VR
    public var value: Value
    /// The element was encoded with undefined length (sequences and
    /// encapsulated pixel data); the writer keeps that choice.
    public var hasUndefinedLength: Bool

    public enum Value: Sendable {
        /// The value's bytes: string bytes as stored (padding included),
        /// binary numbers in little-endian order. May be a slice of a larger
        /// buffer: index it from `startIndex`, or use `withUnsafeBytes`.
        case bytes(Data)
        /// A sequence of items (VR SQ).
        case sequence([Dataset])
        /// Encapsulated pixel data: basic offset table and fragments, kept as-is.
        case fragments(EncapsulatedPixelData)
    }

    public init(tag: Tag, vr: VR, value: Value, hasUndefinedLength: Bool = false) {
        self.tag = tag
        self.vr = vr
        self.value = value
        self.hasUndefinedLength = hasUndefinedLength
    }

    public init(tag: Tag, vr: VR, bytes: Data) {
        self.init(tag: tag, vr: vr, value: .bytes(bytes))
    }

    /// The raw bytes of a non-sequence value; nil for sequences and fragments.
    public var bytes: Data? {
        if case .bytes(let data) = value { return data }
        return nil
    }

    /// The items of a sequence; nil for other values.
    public var items: [Dataset]? {
        if case .sequence(let items) = value { return items }
        return nil
    }

    /// The fragments of encapsulated pixel data; nil for other values.
    public var fragments: EncapsulatedPixelData? {
        if case .fragments(let fragments) = value { return fragments }
        return nil
    }

    /// Length of the value in bytes as it would be written with defined
    /// lengths (sequences: the sum of their encoded items), rounded to even.
    public var isEmpty: Bool {
        switch value {
        case .bytes(let data): return data.isEmpty
        case .sequence(let items): return items.isEmpty
        case .fragments(let f): return f.fragments.isEmpty && f.offsetTable.isEmpty
        }
    }
}

/// Compressed pixel data as it is stored: a basic offset table and the
/// fragments, never decoded here (PS3.5 §A.4).
public struct EncapsulatedPixelData: Sendable, Equatable {
    /// The first item's value: the basic offset table, often empty.
    public var offsetTable: Data
    /// Every following item's value, in order.
    public var fragments: [Data]

    public init(offsetTable: Data = Data(), fragments: [Data]) {
        self.offsetTable = offsetTable
        self.fragments = fragments
    }

    /// The encapsulated value as encoded: items with their tags and lengths,
    /// without the final sequence delimitation item (what the DICOM JSON model
    /// and pydicom call the element's value).
    public var encodedItems: Data {
        var out = Data()
        out.reserveCapacity(8 * (fragments.count + 1) + offsetTable.count + fragments.reduce(0) { $0 + $1.count })
        func appendItem(_ value: Data) {
            var header = [UInt8](repeating: 0, count: 8)
            header[0] = 0xFE; header[1] = 0xFF; header[2] = 0x00; header[3] = 0xE0
            let length = UInt32(value.count)
            for i in 0..<4 { header[4 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
            out.append(contentsOf: header)
            out.append(value)
        }
        appendItem(offsetTable)
        fragments.forEach(appendItem)
        return out
    }
}
