/// A problem found while reading or writing DICOM: what, where, and what the
/// user can do about it. Errors are values; the reader never traps on bad input.
public struct DICOMError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The bytes are not a DICOM file or data set.
        case notDICOM = "not-dicom"
        /// The file ends inside an element, item or header.
        case truncated
        /// A length runs past the end of the file or of its enclosing item.
        case lengthOutOfBounds = "length-out-of-bounds"
        /// An odd value length (PS3.5 §7.1.1 requires even lengths).
        case oddLength = "odd-length"
        /// The two VR bytes name no VR.
        case invalidVR = "invalid-vr"
        /// Structure that cannot be parsed: a missing item tag, a stray delimiter.
        case malformed
        /// Nesting deeper than the reader allows.
        case tooDeep = "too-deep"
        /// A transfer syntax the operation cannot handle.
        case unsupportedTransferSyntax = "unsupported-transfer-syntax"
        /// Deflated data that does not inflate.
        case badDeflate = "bad-deflate"
        /// The file cannot be opened or read.
        case io
        /// Something the writer refuses to write.
        case invalidValue = "invalid-value"
    }

    public var kind: Kind
    /// The file concerned, when known.
    public var path: String?
    /// Byte offset in the file (or in the inflated stream for deflated files).
    public var offset: Int?
    /// The element being read, when known.
    public var tag: Tag?
    public var message: String

    public init(_ kind: Kind, _ message: String, path: String? = nil, offset: Int? = nil, tag: Tag? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
        self.offset = offset
        self.tag = tag
    }

    /// What the user can do, per kind.
    public var hint: String? {
        switch kind {
        case .truncated, .lengthOutOfBounds:
            return "the file is damaged or incompletely copied; copy it again from the original medium, or read it with --lenient to keep what precedes the fault"
        case .notDICOM:
            return "if this is a JPEG, PNG or PDF, `discport convert` turns it into DICOM"
        case .invalidVR, .malformed:
            return "the file does not follow PS3.5; --lenient keeps what precedes the fault"
        case .unsupportedTransferSyntax:
            return "choose another transfer syntax or media profile"
        default:
            return nil
        }
    }

    public var description: String {
        var parts: [String] = []
        if let path { parts.append(path) }
        if let offset { parts.append("offset \(offset) (0x\(String(offset, radix: 16, uppercase: true)))") }
        if let tag { parts.append("tag \(tag)") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
