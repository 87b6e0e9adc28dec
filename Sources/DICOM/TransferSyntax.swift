import Foundation

/// How a data set is encoded on the wire (PS3.5 §10): VR explicitness, byte
/// order, deflate, and whether pixel data is encapsulated.
public struct TransferSyntax: Hashable, Sendable, CustomStringConvertible {
    public let uid: String
    public let isExplicitVR: Bool
    public let isBigEndian: Bool
    public let isDeflated: Bool
    /// Pixel data is encapsulated in fragments (every compressed syntax).
    public let isEncapsulated: Bool
    /// Lossy compression, per the UID registry's name of the syntax.
    public let isLossy: Bool
    /// Retired syntaxes must not be written by discport.
    public let isRetired: Bool

    public init(uid: String, isExplicitVR: Bool = true, isBigEndian: Bool = false, isDeflated: Bool = false,
                isEncapsulated: Bool, isLossy: Bool = false, isRetired: Bool = false) {
        self.uid = uid
        self.isExplicitVR = isExplicitVR
        self.isBigEndian = isBigEndian
        self.isDeflated = isDeflated
        self.isEncapsulated = isEncapsulated
        self.isLossy = isLossy
        self.isRetired = isRetired
    }

    public static let implicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2", isExplicitVR: false, isEncapsulated: false)
    public static let explicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1", isEncapsulated: false)
    public static let encapsulatedUncompressedExplicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1.98", isEncapsulated: true)
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1.99", isDeflated: true, isEncapsulated: false)
    public static let explicitVRBigEndian = TransferSyntax(uid: "1.2.840.10008.1.2.2", isBigEndian: true, isEncapsulated: false, isRetired: true)
    public static let jpegBaseline = TransferSyntax(uid: "1.2.840.10008.1.2.4.50", isEncapsulated: true, isLossy: true)
    public static let jpegExtended = TransferSyntax(uid: "1.2.840.10008.1.2.4.51", isEncapsulated: true, isLossy: true)
    public static let jpegLossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.57", isEncapsulated: true)
    public static let jpegLosslessSV1 = TransferSyntax(uid: "1.2.840.10008.1.2.4.70", isEncapsulated: true)
    public static let jpegLSLossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.80", isEncapsulated: true)
    public static let jpegLSNearLossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.81", isEncapsulated: true, isLossy: true)
    public static let jpeg2000Lossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.90", isEncapsulated: true)
    public static let jpeg2000 = TransferSyntax(uid: "1.2.840.10008.1.2.4.91", isEncapsulated: true, isLossy: true)
    public static let rleLossless = TransferSyntax(uid: "1.2.840.10008.1.2.5", isEncapsulated: true)

    /// Every transfer syntax discport knows by name. Unknown UIDs found in
    /// files are read as explicit VR little endian with encapsulated pixel
    /// data, the convention of DCMTK and pydicom for private compressed syntaxes.
    public static let known: [TransferSyntax] = [
        .implicitVRLittleEndian, .explicitVRLittleEndian, .encapsulatedUncompressedExplicitVRLittleEndian,
        .deflatedExplicitVRLittleEndian, .explicitVRBigEndian,
        .jpegBaseline, .jpegExtended,
        TransferSyntax(uid: "1.2.840.10008.1.2.4.52", isEncapsulated: true, isLossy: true, isRetired: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.53", isEncapsulated: true, isLossy: true, isRetired: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.54", isEncapsulated: true, isLossy: true, isRetired: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.55", isEncapsulated: true, isLossy: true, isRetired: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.56", isEncapsulated: true, isLossy: true, isRetired: true),
        .jpegLossless,
        TransferSyntax(uid: "1.2.840.10008.1.2.4.58", isEncapsulated: true, isRetired: true),
        .jpegLosslessSV1,
        .jpegLSLossless, .jpegLSNearLossless,
        .jpeg2000Lossless, .jpeg2000,
        TransferSyntax(uid: "1.2.840.10008.1.2.4.92", isEncapsulated: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.93", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.94", isEncapsulated: true, isLossy: true, isRetired: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.95", isEncapsulated: true, isLossy: true, isRetired: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.100", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.100.1", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.101", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.101.1", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.102", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.102.1", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.103", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.103.1", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.104", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.104.1", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.105", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.105.1", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.106", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.106.1", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.107", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.108", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.201", isEncapsulated: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.202", isEncapsulated: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.203", isEncapsulated: true, isLossy: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.204", isEncapsulated: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.4.205", isEncapsulated: true),
        .rleLossless,
        TransferSyntax(uid: "1.2.840.10008.1.2.6.1", isEncapsulated: true, isRetired: true),
        TransferSyntax(uid: "1.2.840.10008.1.2.6.2", isEncapsulated: true, isRetired: true),
    ]

    private static let byUID: [String: TransferSyntax] = Dictionary(known.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })

    /// The syntax named by `uid` (trailing NUL/space padding ignored). An
    /// unknown UID yields explicit VR little endian with encapsulated pixel data.
    public init(uid rawUID: String) {
        let uid = UID.trimmed(rawUID)
        if let known = TransferSyntax.byUID[uid] {
            self = known
        } else {
            self.init(uid: uid, isEncapsulated: true)
        }
    }

    /// The known syntax whose UID is exactly these bytes (padding already
    /// trimmed), without making a `String`: the parser asks this for every
    /// file's (0002,0010), and the common syntaxes come first in ``known``.
    static func known(utf8 bytes: UnsafeRawBufferPointer) -> TransferSyntax? {
        guard let base = bytes.baseAddress else { return nil }
        let index = knownUTF8.withUnsafeBufferPointer { uids in
            uids.firstIndex { $0.count == bytes.count && memcmp($0, base, bytes.count) == 0 }
        }
        return index.map { known[$0] }
    }

    /// ``known``'s UIDs as bytes, in the same order.
    private static let knownUTF8: [[UInt8]] = known.map { Array($0.uid.utf8) }

    /// Whether discport knows this syntax by name.
    public var isKnown: Bool { TransferSyntax.byUID[uid] != nil }

    /// The registry name (`JPEG Baseline (Process 1)`), or the UID itself.
    public var name: String { UIDRegistry.name(for: uid) ?? uid }

    public var description: String { name }
}
