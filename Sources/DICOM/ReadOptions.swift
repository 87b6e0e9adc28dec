/// How much of a file to read and how forgiving to be.
public struct ReadOptions: Sendable, Hashable {
    /// Stop before (7FE0,0010) Pixel Data: the header mode used to scan
    /// media. Only the bytes before the pixel data are read from disk.
    public var stopBeforePixelData: Bool
    /// On a fault, return everything read before it (with the fault in
    /// ``DICOMFile/error``) instead of throwing.
    public var lenient: Bool
    /// Deepest sequence nesting accepted; deeper input is reported, not
    /// followed (protects the stack against hostile files).
    public var maximumDepth: Int

    public init(stopBeforePixelData: Bool = false, lenient: Bool = false, maximumDepth: Int = 128) {
        self.stopBeforePixelData = stopBeforePixelData
        self.lenient = lenient
        self.maximumDepth = maximumDepth
    }

    /// Header mode: everything up to pixel data.
    public static let header = ReadOptions(stopBeforePixelData: true)
    /// The whole file, strict.
    public static let full = ReadOptions()
}
