/// A DICOM attribute tag: a (group, element) pair (PS3.5 §7.1).
///
/// Tags order by group, then element, which is the order elements take in an
/// encoded data set. Well-known tags are available as static members named
/// after their PS3.6 keyword (`Tag.patientName`, `Tag.sopInstanceUID`).
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The tag as one 32-bit number, group in the high half: `0x0010_0010`.
    public let rawValue: UInt32

    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    @inlinable
    public init(_ group: UInt16, _ element: UInt16) {
        self.rawValue = UInt32(group) << 16 | UInt32(element)
    }

    @inlinable public var group: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }
    @inlinable public var element: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    /// Odd groups (other than 0001, 0003, 0005, 0007, FFFF) hold private data.
    public var isPrivate: Bool {
        group & 1 == 1 && group > 0x0008 && group != 0xFFFF
    }

    /// A private creator element, `(gggg,0010)`–`(gggg,00FF)` in a private group.
    public var isPrivateCreator: Bool {
        isPrivate && element >= 0x0010 && element <= 0x00FF
    }

    /// A group length element `(gggg,0000)`.
    public var isGroupLength: Bool { element == 0 }

    /// Item, item delimitation and sequence delimitation tags (group FFFE).
    public var isDelimiter: Bool { group == 0xFFFE }

    /// `(gggg,eeee)` in upper-case hex, as DCMTK and the standard print it.
    public var description: String {
        "(\(Tag.hex4(group)),\(Tag.hex4(element)))"
    }

    /// `GGGGEEEE`, the form the DICOM JSON model uses as a key.
    public var jsonKey: String { Tag.hex4(group) + Tag.hex4(element) }

    /// Parses `GGGGEEEE`, `(GGGG,EEEE)` or `GGGG,EEEE`.
    public init?(parsing text: String) {
        let hex = text.filter { $0.isHexDigit }
        guard hex.count == 8, text.count <= 11, let raw = UInt32(hex, radix: 16) else { return nil }
        self.init(rawValue: raw)
    }

    @inlinable
    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.rawValue < rhs.rawValue }

    static func hex4(_ value: UInt16) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8](repeating: 0, count: 4)
        for i in 0..<4 { out[i] = digits[Int(value >> UInt16(12 - 4 * i)) & 0xF] }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Tag {
    /// (FFFE,E000) Item.
    public static let item = Tag(0xFFFE, 0xE000)
    /// (FFFE,E00D) Item Delimitation Item.
    public static let itemDelimitationItem = Tag(0xFFFE, 0xE00D)
    /// (FFFE,E0DD) Sequence Delimitation Item.
    public static let sequenceDelimitationItem = Tag(0xFFFE, 0xE0DD)
}
