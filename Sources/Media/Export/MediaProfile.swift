import DICOM
import Foundation

/// A PS3.11 general-purpose application profile: which transfer syntaxes a
/// File-set Creator may write, which extra DICOMDIR keys it needs, and the
/// physical medium it is meant for (PS3.12).
public struct MediaProfile: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The profile's name as PS3.11 spells it (`STD-GEN-CD`).
    public let name: String
    /// Transfer syntaxes the profile allows for the files of the file-set.
    public let transferSyntaxes: [String]
    /// PS3.11 Table H.3-2 keys (DVD, BD and USB profiles): Patient's Birth
    /// Date and Sex, Institution Name/Address and Performing Physicians'
    /// Name in SERIES, Rows/Columns and the image keys in IMAGE.
    public let needsExtendedKeys: Bool
    /// The PS3.12 medium, for messages.
    public let medium: String

    public var description: String { name }

    static let explicitLE = TransferSyntax.explicitVRLittleEndian.uid
    static let jpeg = [TransferSyntax.jpegLosslessSV1.uid, TransferSyntax.jpegBaseline.uid, TransferSyntax.jpegExtended.uid]
    static let j2k = [TransferSyntax.jpeg2000Lossless.uid, TransferSyntax.jpeg2000.uid]

    /// PS3.11 Annex D: CD-R, ISO 9660; Explicit VR Little Endian only.
    public static let stdGenCD = MediaProfile(name: "STD-GEN-CD", transferSyntaxes: [explicitLE], needsExtendedKeys: false, medium: "CD-R (PS3.12 Annex F)")
    /// PS3.11 Annex H: DVD with JPEG (lossless SV1, baseline, extended).
    public static let stdGenDVDJPEG = MediaProfile(name: "STD-GEN-DVD-JPEG", transferSyntaxes: [explicitLE] + jpeg, needsExtendedKeys: true, medium: "DVD (PS3.12 Annex P)")
    /// PS3.11 Annex H: DVD with JPEG 2000 (lossless and lossy).
    public static let stdGenDVDJ2K = MediaProfile(name: "STD-GEN-DVD-J2K", transferSyntaxes: [explicitLE] + j2k, needsExtendedKeys: true, medium: "DVD (PS3.12 Annex P)")
    /// PS3.11 Annex M: BD with JPEG.
    public static let stdGenBDJPEG = MediaProfile(name: "STD-GEN-BD-JPEG", transferSyntaxes: [explicitLE] + jpeg, needsExtendedKeys: true, medium: "BD (PS3.12 Annex X)")
    /// PS3.11 Annex M: BD with JPEG 2000.
    public static let stdGenBDJ2K = MediaProfile(name: "STD-GEN-BD-J2K", transferSyntaxes: [explicitLE] + j2k, needsExtendedKeys: true, medium: "BD (PS3.12 Annex X)")
    /// USB and flash memory with compression: JPEG.
    public static let stdGenUSBJPEG = MediaProfile(name: "STD-GEN-USB-JPEG", transferSyntaxes: [explicitLE] + jpeg, needsExtendedKeys: true, medium: "USB mass storage (PS3.12 Annex R)")
    /// USB and flash memory with compression: JPEG 2000.
    public static let stdGenUSBJ2K = MediaProfile(name: "STD-GEN-USB-J2K", transferSyntaxes: [explicitLE] + j2k, needsExtendedKeys: true, medium: "USB mass storage (PS3.12 Annex R)")

    /// The general-purpose profiles take standard storage SOP classes only
    /// (PS3.11 Annex D, H, M: "any … Storage SOP Class"; dcmmkdir refuses
    /// others): a private class (`1.3.12.2.1107.5.9.1`, Siemens CSA
    /// non-image) has no place in their file-set.
    public func allowsSOPClass(_ uid: String) -> Bool { uid.hasPrefix("1.2.840.10008.") }

    public static let all: [MediaProfile] = [.stdGenCD, .stdGenDVDJPEG, .stdGenDVDJ2K, .stdGenBDJPEG, .stdGenBDJ2K, .stdGenUSBJPEG, .stdGenUSBJ2K]

    /// A profile by name, case-insensitively (`std-gen-cd`).
    public static func named(_ name: String) -> MediaProfile? {
        all.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }
    }

    /// A CD-R profile: ISO 9660 (PS3.12 Annex F).
    public var isCD: Bool { name.hasPrefix("STD-GEN-CD") }
    /// A BD profile: UDF 2.50/2.60 (PS3.12 Annex X).
    public var isBD: Bool { name.hasPrefix("STD-GEN-BD") }

    public func allows(_ transferSyntaxUID: String) -> Bool {
        transferSyntaxes.contains(transferSyntaxUID)
    }

    /// The narrowest general-purpose profile that allows every syntax in
    /// `used` (what a medium that declares nothing can be checked against);
    /// nil when none does.
    /// `cd` false: a medium that cannot be a CD (a UDF-only image).
    public static func narrowest(allowing used: Set<String>, cd: Bool = true) -> MediaProfile? {
        all.first { profile in (cd || !profile.isCD) && used.allSatisfy(profile.allows) }
    }
}

/// What the export is written for: the medium decides the default profile
/// and the capacity.
public enum MediaKind: String, Sendable, Hashable, Codable, CaseIterable {
    case cd, dvd, dvdDL = "dvd-dl", bd, usb, zip

    /// Bytes that fit (decimal units, as the media are sold); nil: no limit.
    public var capacity: Int64? {
        switch self {
        case .cd: return 700 * 1_000_000
        case .dvd: return 4_700_000_000
        case .dvdDL: return 8_500_000_000
        case .bd: return 25_000_000_000
        case .usb, .zip: return nil
        }
    }

    /// The profile written when none is asked for.
    public var defaultProfile: MediaProfile {
        switch self {
        case .cd: return .stdGenCD
        case .dvd, .dvdDL: return .stdGenDVDJPEG
        case .bd: return .stdGenBDJPEG
        case .usb, .zip: return .stdGenUSBJPEG
        }
    }
}
