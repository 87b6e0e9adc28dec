import Foundation

/// How a file's top-level (7FE0,0010) Pixel Data is encoded, from its
/// element header: native pixels have a defined length, encapsulated ones
/// (PS3.5 A.4: every compressed syntax) an undefined length and fragments.
///
/// The transfer syntax must say the same: encapsulated pixel data under a
/// native syntax (or native under an encapsulated one) is read by no
/// standard reader. Broken writers produce it (a JPEG file whose data set
/// is implicit VR; a file re-labelled Explicit VR Little Endian without
/// decompressing it); the scan reports it as an error, the file-set writer
/// never writes it, a send never sends it so labelled.
public enum PixelDataEncoding: String, Sendable, Hashable {
    case native
    case encapsulated

    /// The length field of the Pixel Data element at `offset` (its tag),
    /// the data set being encoded as `explicit`/`bigEndian` say: the
    /// value's start and length (0xFFFFFFFF: undefined); nil when the
    /// header cannot be read.
    public static func elementLength(at offset: Int, explicit: Bool, bigEndian: Bool,
                              read: (_ at: Int, _ count: Int) -> [UInt8]?) -> (valueStart: Int, length: Int)? {
        guard let header = read(offset, explicit ? 12 : 8) else { return nil }
        func u16(_ i: Int) -> Int { bigEndian ? Int(header[i]) << 8 | Int(header[i + 1]) : Int(header[i]) | Int(header[i + 1]) << 8 }
        func u32(_ i: Int) -> Int {
            bigEndian ? Int(header[i]) << 24 | Int(header[i + 1]) << 16 | Int(header[i + 2]) << 8 | Int(header[i + 3])
                : Int(header[i]) | Int(header[i + 1]) << 8 | Int(header[i + 2]) << 16 | Int(header[i + 3]) << 24
        }
        if explicit {
            if let vr = VR(byte0: header[4], byte1: header[5]), !vr.hasLongLength {
                return (offset + 8, u16(6))
            }
            return (offset + 12, u32(8))
        }
        return (offset + 8, u32(4))
    }

    /// The encoding of a header-read file's Pixel Data (``DICOMFile/pixelDataOffset``),
    /// its element header read with `read`; nil without pixel data, for a
    /// deflated data set, or when the header cannot be read.
    public static func of(_ file: DICOMFile, read: (_ at: Int, _ count: Int) -> [UInt8]?) -> PixelDataEncoding? {
        guard let offset = file.pixelDataOffset, !file.transferSyntax.isDeflated,
              let (_, length) = elementLength(at: offset, explicit: file.transferSyntax.isExplicitVR,
                                              bigEndian: file.transferSyntax.isBigEndian, read: read) else { return nil }
        return length == 0xFFFF_FFFF ? .encapsulated : .native
    }

    /// The encoding of a header-read file's Pixel Data, its element header
    /// read from the file at `path`.
    public static func of(_ file: DICOMFile, path: String) -> PixelDataEncoding? {
        of(file) { at, count in
            guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
            defer { try? handle.close() }
            guard (try? handle.seek(toOffset: UInt64(at))) != nil, let data = try? handle.read(upToCount: count),
                  data.count == count else { return nil }
            return [UInt8](data)
        }
    }

    /// The encoding of the Pixel Data of a data set read whole; nil without one.
    public static func of(_ dataset: Dataset) -> PixelDataEncoding? {
        guard let element = dataset[.pixelData] else { return nil }
        switch element.value {
        case .fragments: return .encapsulated
        case .bytes: return element.hasUndefinedLength ? .encapsulated : .native
        case .sequence: return nil
        }
    }

    /// The syntax the file's meta declares ((0002,0010)), nil when it has none.
    public static func declaredSyntax(_ file: DICOMFile) -> TransferSyntax? {
        guard let uid = file.meta.firstString(.transferSyntaxUID).map(UID.trimmed), !uid.isEmpty else { return nil }
        return TransferSyntax(uid: uid)
    }

    /// What is wrong when pixel data of this encoding is labelled `syntax`;
    /// nil when they agree (or the syntax is one discport does not know:
    /// it cannot tell).
    public func mismatch(with syntax: TransferSyntax) -> String? {
        switch self {
        case .encapsulated where !syntax.isEncapsulated:
            return "its Pixel Data is encapsulated (compressed fragments of undefined length) but its transfer syntax is \(syntax.name) (\(syntax.uid)), a native one: no reader can decode it"
        case .native where syntax.isEncapsulated && syntax.isKnown:
            return "its Pixel Data is native (a defined length) but its transfer syntax is \(syntax.name) (\(syntax.uid)), whose pixel data is encapsulated: no reader can decode it"
        default:
            return nil
        }
    }
}
