// Code elements of the DICOM character sets (PS3.3 C.12.1.1.2, PS3.5 §6.1)
// and the conversion tables behind them.
//
// The multi-byte tables (JIS X 0208, JIS X 0212, KS X 1001, GB 2312) and the
// ISO 8859 right halves are built once, lazily, from the C library's iconv
// converters (glibc's gconv modules) into plain immutable arrays and
// dictionaries. After that, decoding and encoding are table look-ups in Swift:
// no iconv call per value, no shared mutable state. GB18030 and GBK, whose
// four-byte ranges are algorithmic, are converted by iconv per call
// (see `IConvConverter`).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Code elements

/// A 94-character set that can be designated to G0 (bytes 0x21–0x7E).
enum G0Element: UInt8, Hashable, Sendable {
    /// ISO-IR 6, US-ASCII. ESC ( B.
    case ascii
    /// ISO-IR 14, JIS X 0201 Romaji: ASCII except 0x5C = ¥ and 0x7E = ‾. ESC ( J.
    case jisRoman
    /// ISO-IR 87, JIS X 0208 (two bytes). ESC $ B.
    case jisX0208
    /// ISO-IR 159, JIS X 0212 (two bytes). ESC $ ( D.
    case jisX0212

    var isDoubleByte: Bool { self == .jisX0208 || self == .jisX0212 }

    /// The escape sequence that designates this set to G0.
    var designation: [UInt8] {
        switch self {
        case .ascii: return [0x1B, 0x28, 0x42]
        case .jisRoman: return [0x1B, 0x28, 0x4A]
        case .jisX0208: return [0x1B, 0x24, 0x42]
        case .jisX0212: return [0x1B, 0x24, 0x28, 0x44]
        }
    }

    /// The ISO-IR registration number used in the defined term.
    var irNumber: Int {
        switch self {
        case .ascii: return 6
        case .jisRoman: return 13
        case .jisX0208: return 87
        case .jisX0212: return 159
        }
    }

    var doubleByteTable: DoubleByteTable? {
        switch self {
        case .jisX0208: return CharsetTables.jisX0208
        case .jisX0212: return CharsetTables.jisX0212
        default: return nil
        }
    }
}

/// The right halves of the ISO 8859 family and TIS 620, each a 96-character set
/// designated to G1 with ESC - F.
enum SingleByteSet: UInt8, Hashable, Sendable, CaseIterable {
    case latin1, latin2, latin3, latin4, cyrillic, arabic, greek, hebrew, latin5, latin9, thai

    var irNumber: Int {
        switch self {
        case .latin1: return 100
        case .latin2: return 101
        case .latin3: return 109
        case .latin4: return 110
        case .cyrillic: return 144
        case .arabic: return 127
        case .greek: return 126
        case .hebrew: return 138
        case .latin5: return 148
        case .latin9: return 203
        case .thai: return 166
        }
    }

    /// The final byte F of the designation ESC - F.
    var finalByte: UInt8 {
        switch self {
        case .latin1: return 0x41  // A
        case .latin2: return 0x42  // B
        case .latin3: return 0x43  // C
        case .latin4: return 0x44  // D
        case .cyrillic: return 0x4C  // L
        case .arabic: return 0x47  // G
        case .greek: return 0x46  // F
        case .hebrew: return 0x48  // H
        case .latin5: return 0x4D  // M
        case .latin9: return 0x62  // b
        case .thai: return 0x54  // T
        }
    }

    var iconvName: String {
        switch self {
        case .latin1: return "ISO-8859-1"
        case .latin2: return "ISO-8859-2"
        case .latin3: return "ISO-8859-3"
        case .latin4: return "ISO-8859-4"
        case .cyrillic: return "ISO-8859-5"
        case .arabic: return "ISO-8859-6"
        case .greek: return "ISO-8859-7"
        case .hebrew: return "ISO-8859-8"
        case .latin5: return "ISO-8859-9"
        case .latin9: return "ISO-8859-15"
        // ISO 8859-11 is TIS 620-2533 plus NO-BREAK SPACE at 0xA0.
        case .thai: return "ISO-8859-11"
        }
    }

    init?(finalByte: UInt8) {
        guard let set = SingleByteSet.allCases.first(where: { $0.finalByte == finalByte }) else { return nil }
        self = set
    }

    var table: SingleByteTable { CharsetTables.singleByte[Int(rawValue)] }
}

/// A set that can be designated to G1 (bytes 0xA0–0xFF).
enum G1Element: Hashable, Sendable {
    /// ISO-IR 13, JIS X 0201 Katakana (0xA1–0xDF). ESC ) I.
    case katakana
    /// ISO-IR 149, KS X 1001 (two bytes 0xA1–0xFE). ESC $ ) C.
    case ksX1001
    /// ISO-IR 58, GB 2312 (two bytes 0xA1–0xFE). ESC $ ) A.
    case gb2312
    /// An ISO 8859 right half or TIS 620. ESC - F.
    case singleByte(SingleByteSet)

    var designation: [UInt8] {
        switch self {
        case .katakana: return [0x1B, 0x29, 0x49]
        case .ksX1001: return [0x1B, 0x24, 0x29, 0x43]
        case .gb2312: return [0x1B, 0x24, 0x29, 0x41]
        case .singleByte(let set): return [0x1B, 0x2D, set.finalByte]
        }
    }

    var irNumber: Int {
        switch self {
        case .katakana: return 13
        case .ksX1001: return 149
        case .gb2312: return 58
        case .singleByte(let set): return set.irNumber
        }
    }

    var doubleByteTable: DoubleByteTable? {
        switch self {
        case .ksX1001: return CharsetTables.ksX1001
        case .gb2312: return CharsetTables.gb2312
        default: return nil
        }
    }
}

/// A code element of a repertoire: a set in G0 or in G1.
enum ISO2022CodeElement: Hashable, Sendable {
    case g0(G0Element)
    case g1(G1Element)
}

/// What an escape sequence designates.
enum ISO2022Designation: Hashable, Sendable {
    case g0(G0Element)
    case g1(G1Element)

    /// Reads the escape sequence starting with ESC at `start`. Returns the
    /// designation (nil when the sequence is not one DICOM uses) and the length
    /// of the sequence: ESC, intermediate bytes 0x20–0x2F, and a final byte
    /// 0x30–0x7E; 1 when no final byte follows.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> (ISO2022Designation?, length: Int) {
        var index = start + 1
        while index < bytes.count, (0x20...0x2F).contains(bytes[index]) { index += 1 }
        guard index < bytes.count, (0x30...0x7E).contains(bytes[index]) else { return (nil, 1) }
        let length = index - start + 1
        let final = bytes[index]
        let intermediates = UnsafeBufferPointer(rebasing: bytes[(start + 1)..<index])
        let designation: ISO2022Designation?
        switch (intermediates.count, intermediates.first, intermediates.count > 1 ? intermediates[1] : 0, final) {
        case (1, 0x28, _, 0x42): designation = .g0(.ascii)  // ESC ( B
        case (1, 0x28, _, 0x4A): designation = .g0(.jisRoman)  // ESC ( J
        case (1, 0x24, _, 0x42), (1, 0x24, _, 0x40): designation = .g0(.jisX0208)  // ESC $ B, ESC $ @ (1978)
        case (2, 0x24, 0x28, 0x42), (2, 0x24, 0x28, 0x40): designation = .g0(.jisX0208)  // ESC $ ( B
        case (2, 0x24, 0x28, 0x44): designation = .g0(.jisX0212)  // ESC $ ( D
        case (1, 0x29, _, 0x49): designation = .g1(.katakana)  // ESC ) I
        case (2, 0x24, 0x29, 0x43): designation = .g1(.ksX1001)  // ESC $ ) C
        case (2, 0x24, 0x29, 0x41): designation = .g1(.gb2312)  // ESC $ ) A
        case (1, 0x2D, _, _): designation = SingleByteSet(finalByte: final).map { .g1(.singleByte($0)) }  // ESC - F
        default: designation = nil
        }
        return (designation, length)
    }
}

// MARK: - Tables

/// A 96-character G1 set: Unicode scalar values for bytes 0xA0–0xFF, 0 where
/// the set has no character.
struct SingleByteTable: Sendable {
    let decode: [UInt32]
    let encode: [UInt32: UInt8]

    init(_ set: SingleByteSet) {
        var decode = [UInt32](repeating: 0, count: 96)
        if set == .latin1 {
            for index in 0..<96 { decode[index] = UInt32(0xA0 + index) }
        } else if let converter = IConvConverter(from: set.iconvName, to: "UTF-32LE") {
            for index in 0..<96 {
                decode[index] = converter.scalar(of: [UInt8(0xA0 + index)]) ?? 0
            }
        }
        var encode: [UInt32: UInt8] = [:]
        for (index, scalar) in decode.enumerated() where scalar != 0 {
            encode[scalar] = UInt8(0xA0 + index)
        }
        self.decode = decode
        self.encode = encode
    }
}

/// A 94×94 two-byte set, indexed by the 7-bit row and cell bytes (0x21–0x7E).
struct DoubleByteTable: Sendable {
    /// Scalar values for (row - 0x21) * 94 + (cell - 0x21); 0 where unassigned.
    let decode: [UInt32]
    /// The 7-bit code (row << 8 | cell) of each scalar the standard set holds.
    let encode: [UInt32: UInt16]

    /// - Parameters:
    ///   - iconvName: an 8-bit EUC form whose code set 1 (or 3, with `prefix`)
    ///     is this set, with both bytes + 0x80.
    ///   - prefix: bytes written before each pair (0x8F for JIS X 0212 in EUC-JP).
    ///   - extensionName: an EUC variant whose extra characters fill positions
    ///     the standard set leaves empty, for decoding only (vendor extensions
    ///     found in real data, e.g. NEC row 13 in EUC-JP-MS). Private-use
    ///     results are ignored.
    init(iconvName: String, prefix: [UInt8] = [], extensionName: String? = nil) {
        var decode = [UInt32](repeating: 0, count: 94 * 94)
        var encode: [UInt32: UInt16] = [:]
        let converter = IConvConverter(from: iconvName, to: "UTF-32LE")
        let extensionConverter = extensionName.flatMap { IConvConverter(from: $0, to: "UTF-32LE") }
        var input = prefix + [0, 0]
        for row in 0..<94 {
            for cell in 0..<94 {
                input[prefix.count] = UInt8(0xA1 + row)
                input[prefix.count + 1] = UInt8(0xA1 + cell)
                let index = row * 94 + cell
                if let scalar = converter?.scalar(of: input), scalar >= 0x80 {
                    decode[index] = scalar
                    if encode[scalar] == nil {
                        encode[scalar] = UInt16(0x21 + row) << 8 | UInt16(0x21 + cell)
                    }
                } else if let scalar = extensionConverter?.scalar(of: input), scalar >= 0x80,
                    !(0xE000...0xF8FF).contains(scalar)
                {
                    decode[index] = scalar
                }
            }
        }
        self.decode = decode
        self.encode = encode
    }

    /// The scalar for a 7-bit pair, or nil.
    @inline(__always)
    func scalar(_ first: UInt8, _ second: UInt8) -> UInt32? {
        let value = decode[Int(first &- 0x21) * 94 + Int(second &- 0x21)]
        return value == 0 ? nil : value
    }
}

/// The tables, built on first use. `static let` makes the initialisation
/// lazy and thread-safe; the values are immutable afterwards.
enum CharsetTables {
    static let jisX0208 = DoubleByteTable(iconvName: "EUC-JP", extensionName: "EUC-JP-MS")
    static let jisX0212 = DoubleByteTable(iconvName: "EUC-JP", prefix: [0x8F])
    static let ksX1001 = DoubleByteTable(iconvName: "EUC-KR")
    static let gb2312 = DoubleByteTable(iconvName: "EUC-CN")
    static let singleByte: [SingleByteTable] = SingleByteSet.allCases.map(SingleByteTable.init)
}

// MARK: - iconv

/// One iconv conversion descriptor, owned by one caller at a time (iconv_t is
/// not thread-safe): create, use, drop.
final class IConvConverter {
    private let descriptor: iconv_t

    init?(from: String, to: String) {
        guard let descriptor = iconv_open(to, from), descriptor != iconv_t(bitPattern: -1) else { return nil }
        self.descriptor = descriptor
    }

    deinit { iconv_close(descriptor) }

    /// Converts one character's bytes to a single scalar (target UTF-32LE);
    /// nil when the bytes are invalid, incomplete, or convert to anything but
    /// exactly one scalar.
    func scalar(of input: [UInt8]) -> UInt32? {
        var output: [UInt8] = []
        var failed = false
        input.withUnsafeBufferPointer { buffer in
            _ = convert(buffer, into: &output) { _, _ in
                failed = true
                return nil
            }
        }
        guard !failed, output.count == 4 else { return nil }
        return UInt32(output[0]) | UInt32(output[1]) << 8 | UInt32(output[2]) << 16 | UInt32(output[3]) << 24
    }

    private func reset() {
        _ = iconv(descriptor, nil, nil, nil, nil)
    }

    /// Converts `input`, appending to `output`. At each byte that cannot be
    /// converted (or an incomplete sequence at the end), `onError` gets the
    /// offset within `input` (and the output so far, to append a replacement
    /// to) and returns how many bytes to skip (at least 1),
    /// or nil to stop; the converter then continues after them.
    /// Returns false when stopped by `onError`.
    @discardableResult
    func convert(
        _ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], onError: (Int, inout [UInt8]) -> Int?
    ) -> Bool {
        guard let base = input.baseAddress, input.count > 0 else { return true }
        reset()
        // iconv reads through char *; UInt8 and CChar may alias.
        var inPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(mutating: base)
            .assumingMemoryBound(to: CChar.self)
        var inLeft = input.count
        let chunkSize = 4096
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 8)
        defer { chunk.deallocate() }
        let chunkBytes = chunk.assumingMemoryBound(to: UInt8.self)
        func drain(_ outLeft: Int) {
            output.append(contentsOf: UnsafeBufferPointer(start: chunkBytes, count: chunkSize - outLeft))
        }
        while inLeft > 0 {
            var outPointer: UnsafeMutablePointer<CChar>? = chunk.assumingMemoryBound(to: CChar.self)
            var outLeft = chunkSize
            let result = iconv(descriptor, &inPointer, &inLeft, &outPointer, &outLeft)
            let error = errno
            drain(outLeft)
            if result != -1 { break }
            if error == E2BIG { continue }
            // EILSEQ (invalid) or EINVAL (incomplete at the end).
            let offset = input.count - inLeft
            guard let skip = onError(offset, &output) else { return false }
            let step = min(max(skip, 1), inLeft)
            inPointer = inPointer.map { $0 + step }
            inLeft -= step
            reset()
        }
        // Flush any shift state (none for the encodings used here).
        var outPointer: UnsafeMutablePointer<CChar>? = chunk.assumingMemoryBound(to: CChar.self)
        var outLeft = chunkSize
        _ = iconv(descriptor, nil, nil, &outPointer, &outLeft)
        drain(outLeft)
        return true
    }
}
