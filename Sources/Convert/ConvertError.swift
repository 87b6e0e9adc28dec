/// A file that cannot be converted, and why, in words a user can act on.
public struct ConvertError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Not a format discport converts (or not what its name says).
        case unsupported
        /// The file is damaged: truncated, no header, no end marker.
        case damaged
        /// An encrypted (password-protected) PDF.
        case encrypted
        /// The file cannot be read.
        case io
        /// The options cannot be used together or a value is invalid.
        case invalidOption
    }

    public var kind: Kind
    /// The input file, when the error is about one.
    public var path: String?
    public var message: String

    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    public var description: String {
        if let path { return "\(path): \(message)" }
        return message
    }
}
