/// A value representation (PS3.5 §6.2): how an element's value is encoded.
public enum VR: String, CaseIterable, Sendable {
    case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW
    case PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV

    /// Reads the two ASCII bytes of an explicit VR; nil when they name no VR.
    /// A switch on the two bytes: no table, no hashing (this runs once per
    /// element in explicit VR data).
    @inlinable
    public init?(byte0: UInt8, byte1: UInt8) {
        switch UInt16(byte0) << 8 | UInt16(byte1) {
        case 0x4145: self = .AE
        case 0x4153: self = .AS
        case 0x4154: self = .AT
        case 0x4353: self = .CS
        case 0x4441: self = .DA
        case 0x4453: self = .DS
        case 0x4454: self = .DT
        case 0x4644: self = .FD
        case 0x464C: self = .FL
        case 0x4953: self = .IS
        case 0x4C4F: self = .LO
        case 0x4C54: self = .LT
        case 0x4F42: self = .OB
        case 0x4F44: self = .OD
        case 0x4F46: self = .OF
        case 0x4F4C: self = .OL
        case 0x4F56: self = .OV
        case 0x4F57: self = .OW
        case 0x504E: self = .PN
        case 0x5348: self = .SH
        case 0x534C: self = .SL
        case 0x5351: self = .SQ
        case 0x5353: self = .SS
        case 0x5354: self = .ST
        case 0x5356: self = .SV
        case 0x544D: self = .TM
        case 0x5543: self = .UC
        case 0x5549: self = .UI
        case 0x554C: self = .UL
        case 0x554E: self = .UN
        case 0x5552: self = .UR
        case 0x5553: self = .US
        case 0x5554: self = .UT
        case 0x5556: self = .UV
        default: return nil
        }
    }

    /// The two ASCII bytes written in explicit VR encodings.
    public var bytes: (UInt8, UInt8) {
        let utf8 = Array(rawValue.utf8)
        return (utf8[0], utf8[1])
    }

    /// In explicit VR encodings these VRs have two reserved bytes and a
    /// 32-bit length; all others have a 16-bit length (PS3.5 §7.1.2).
    public var hasLongLength: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .SV, .UC, .UN, .UR, .UT, .UV: return true
        default: return false
        }
    }

    /// The byte that pads an odd-length value to even length: NUL for UI and
    /// binary VRs, space for text.
    public var paddingByte: UInt8 {
        switch self {
        case .UI, .OB, .OD, .OF, .OL, .OV, .OW, .UN, .AT, .FD, .FL, .SL, .SS, .SV, .UL, .US, .UV, .SQ:
            return 0x00
        default:
            return 0x20
        }
    }

    /// Values are character strings (possibly several, separated by `\`).
    public var isString: Bool {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT: return true
        default: return false
        }
    }

    /// String VRs whose value is one text: `\` is a character, not a delimiter.
    public var isSingleValuedText: Bool {
        switch self {
        case .LT, .ST, .UT, .UR: return true
        default: return false
        }
    }

    /// String VRs whose bytes follow (0008,0005) Specific Character Set;
    /// all others use the default repertoire (PS3.5 §6.1.2.3).
    public var usesSpecificCharacterSet: Bool {
        switch self {
        case .SH, .LO, .ST, .LT, .UC, .UT, .PN: return true
        default: return false
        }
    }

    /// Size of one value for fixed-size binary VRs (used for byte swapping
    /// and value counts); nil for strings, SQ, OB and UN.
    public var fixedValueSize: Int? {
        switch self {
        case .SS, .US, .OW: return 2
        case .AT: return 2   // swapped as two 16-bit halves
        case .FL, .SL, .UL, .OF, .OL: return 4
        case .FD, .SV, .UV, .OD, .OV: return 8
        default: return nil
        }
    }

    /// Binary VRs that the JSON model carries as InlineBinary.
    public var isBulkBinary: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .UN: return true
        default: return false
        }
    }
}

extension VR {
    /// Every VR at `(byte0 - 0x41) * 26 + (byte1 - 0x41)`, nil where the two
    /// letters name none: the parser's lookup, one load per element instead
    /// of the switch's branches. Built once and never freed (a table, not a
    /// buffer), so parsers hold it as a plain pointer; never written after
    /// it is built, hence `nonisolated(unsafe)`.
    nonisolated(unsafe) static let byLetters: UnsafePointer<VR?> = {
        let table = UnsafeMutablePointer<VR?>.allocate(capacity: 26 * 26)
        table.initialize(repeating: nil, count: 26 * 26)
        for vr in VR.allCases {
            let letters = Array(vr.rawValue.utf8)
            table[Int(letters[0] - 0x41) * 26 + Int(letters[1] - 0x41)] = vr
        }
        return UnsafePointer(table)
    }()
}

extension UnsafePointer where Pointee == VR? {
    /// The VR spelled by two bytes of explicit VR data, from ``VR/byLetters``.
    @inline(__always)
    func vr(_ byte0: UInt8, _ byte1: UInt8) -> VR? {
        let row = UInt32(byte0) &- 0x41, column = UInt32(byte1) &- 0x41
        guard row < 26, column < 26 else { return nil }
        return self[Int(row &* 26 &+ column)]
    }
}
