// Decoding and encoding of text values (PS3.5 §6.1.2.5, §6.2.1.2).

import Foundation

// MARK: - Decoding

enum CharsetDecoder {
    static let replacement: UInt32 = 0xFFFD

    /// Decodes `bytes`; problems are appended to `problems` (only the first
    /// when `stopAtFirst`, and the text is then meaningless).
    static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, repertoire: CharsetRepertoire, vr: VR, stopAtFirst: Bool,
        problems: inout [CharacterSetError]
    ) -> String {
        // Most data is ASCII: no tables, no state.
        switch repertoire.kind {
        case .ascii:
            if isASCII(bytes, allowingESC: true) { return String(decoding: bytes, as: UTF8.self) }
        case .utf8, .gb18030, .gbk:
            if isASCII(bytes, allowingESC: false) { return String(decoding: bytes, as: UTF8.self) }
        case .iso2022:
            if repertoire.initialG0 == .ascii, isASCII(bytes, allowingESC: false) {
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 3 / 2 + 8)
        switch repertoire.kind {
        case .ascii:
            decodeASCII(bytes, into: &output, stopAtFirst: stopAtFirst, problems: &problems)
        case .utf8:
            decodeUTF8(bytes, into: &output, stopAtFirst: stopAtFirst, problems: &problems)
        case .gb18030, .gbk:
            decodeWithIConv(
                bytes, name: repertoire.kind == .gbk ? "GBK" : "GB18030", term: repertoire.term(for: nil),
                into: &output, stopAtFirst: stopAtFirst, problems: &problems)
        case .iso2022:
            var decoder = ISO2022Decoder(repertoire: repertoire, vr: vr, stopAtFirst: stopAtFirst)
            decoder.run(bytes, into: &output, problems: &problems)
        }
        return String(decoding: output, as: UTF8.self)
    }

    @inline(__always)
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>, allowingESC: Bool) -> Bool {
        var high: UInt8 = 0
        var escape = false
        for byte in bytes {
            high |= byte
            escape = escape || byte == 0x1B
        }
        return high < 0x80 && (allowingESC || !escape)
    }

    @inline(__always)
    static func appendUTF8(_ scalar: UInt32, to output: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            output.append(UInt8(scalar))
        case 0x80..<0x800:
            output.append(UInt8(0xC0 | scalar >> 6))
            output.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            output.append(UInt8(0xE0 | scalar >> 12))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(0x80 | scalar & 0x3F))
        default:
            output.append(UInt8(0xF0 | scalar >> 18))
            output.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// The default repertoire for VRs that do not use (0008,0005): bytes
    /// 0x00–0x7F.
    static func decodeASCII(
        _ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], stopAtFirst: Bool,
        problems: inout [CharacterSetError]
    ) {
        for (offset, byte) in bytes.enumerated() {
            if byte < 0x80 {
                output.append(byte)
            } else {
                problems.append(.undecodable(byteOffset: offset, term: "ISO_IR 6"))
                if stopAtFirst { return }
                appendUTF8(replacement, to: &output)
            }
        }
    }

    /// Well-formed UTF-8 only (Unicode Table 3-7): no overlong forms, no
    /// surrogates, nothing above U+10FFFF. ESC is reported (no code
    /// extensions in ISO_IR 192).
    static func decodeUTF8(
        _ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], stopAtFirst: Bool,
        problems: inout [CharacterSetError]
    ) {
        let count = bytes.count
        var index = 0
        while index < count {
            let byte = bytes[index]
            if byte < 0x80 && byte != 0x1B {
                output.append(byte)
                index += 1
                continue
            }
            var length = 0
            var secondRange: ClosedRange<UInt8> = 0x80...0xBF
            switch byte {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; secondRange = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; secondRange = 0x80...0x9F
            case 0xF0: length = 4; secondRange = 0x90...0xBF
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; secondRange = 0x80...0x8F
            default: length = 0
            }
            var valid = length > 0 && index + length <= count
            if valid {
                valid = secondRange.contains(bytes[index + 1])
                var next = index + 2
                while valid && next < index + length {
                    valid = (0x80...0xBF).contains(bytes[next])
                    next += 1
                }
            }
            if valid {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<(index + length)]))
                index += length
            } else {
                problems.append(.undecodable(byteOffset: index, term: "ISO_IR 192"))
                if stopAtFirst { return }
                appendUTF8(replacement, to: &output)
                index += 1
            }
        }
    }

    /// GB18030 and GBK through iconv; ESC bytes are reported (no code
    /// extensions).
    static func decodeWithIConv(
        _ bytes: UnsafeBufferPointer<UInt8>, name: String, term: String, into output: inout [UInt8],
        stopAtFirst: Bool, problems: inout [CharacterSetError]
    ) {
        guard let converter = IConvConverter(from: name, to: "UTF-8") else {
            // No converter on this system: report rather than guess.
            problems.append(.undecodable(byteOffset: 0, term: term))
            if !stopAtFirst {
                for byte in bytes { appendUTF8(byte < 0x80 ? UInt32(byte) : replacement, to: &output) }
            }
            return
        }
        var start = 0
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: 0x1B) ?? bytes.count
            var stopped = false
            converter.convert(UnsafeBufferPointer(rebasing: bytes[start..<end]), into: &output) { offset, output in
                problems.append(.undecodable(byteOffset: start + offset, term: term))
                if stopAtFirst {
                    stopped = true
                    return nil
                }
                appendUTF8(replacement, to: &output)
                return 1
            }
            if stopped || end == bytes.count { return }
            problems.append(.undecodable(byteOffset: end, term: term))
            if stopAtFirst { return }
            appendUTF8(replacement, to: &output)
            start = end + 1
        }
    }
}

/// The ISO 2022 state machine of PS3.5 §6.1.2.5 over G0 (GL) and G1 (GR).
struct ISO2022Decoder {
    let repertoire: CharsetRepertoire
    let stopAtFirst: Bool
    let isPersonName: Bool
    let backslashDelimits: Bool
    var g0: G0Element
    var g1: G1Element?

    init(repertoire: CharsetRepertoire, vr: VR, stopAtFirst: Bool) {
        self.repertoire = repertoire
        self.stopAtFirst = stopAtFirst
        isPersonName = vr == .PN
        backslashDelimits = !vr.isSingleValuedText
        g0 = repertoire.initialG0
        g1 = repertoire.initialG1
    }

    private mutating func resetToInitial() {
        g0 = repertoire.initialG0
        g1 = repertoire.initialG1
    }

    /// Records a problem; returns true when decoding should stop.
    private func report(_ problem: CharacterSetError, _ problems: inout [CharacterSetError], _ output: inout [UInt8]) -> Bool {
        problems.append(problem)
        if stopAtFirst { return true }
        CharsetDecoder.appendUTF8(CharsetDecoder.replacement, to: &output)
        return false
    }

    mutating func run(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], problems: inout [CharacterSetError]) {
        let count = bytes.count
        var index = 0
        while index < count {
            let byte = bytes[index]

            // Escape sequences.
            if byte == 0x1B {
                let (designation, length) = ISO2022Designation.parse(bytes, at: index)
                switch designation {
                case .g0(let set)?: g0 = set
                case .g1(let set)?: g1 = set
                case nil:
                    if report(.invalidEscapeSequence(byteOffset: index), &problems, &output) { return }
                }
                index += length
                continue
            }

            // GL: controls, space, G0.
            if byte < 0x80 {
                if byte <= 0x20 || byte == 0x7F {
                    // CR, LF, FF, TAB return to the initial designations.
                    if byte == 0x0D || byte == 0x0A || byte == 0x0C || byte == 0x09 { resetToInitial() }
                    output.append(byte)
                    index += 1
                    continue
                }
                switch g0 {
                case .ascii, .jisRoman:
                    if (byte == 0x5C && backslashDelimits) || (isPersonName && (byte == 0x5E || byte == 0x3D)) {
                        resetToInitial()
                        output.append(byte)
                    } else if g0 == .jisRoman && byte == 0x5C {
                        CharsetDecoder.appendUTF8(0xA5, to: &output)  // ¥
                    } else if g0 == .jisRoman && byte == 0x7E {
                        CharsetDecoder.appendUTF8(0x203E, to: &output)  // ‾
                    } else {
                        output.append(byte)
                    }
                    index += 1
                case .jisX0208, .jisX0212:
                    // A pair of 0x21–0x7E bytes; 0x5C, 0x5E, 0x3D here are
                    // halves of a character, never delimiters.
                    let table = g0.doubleByteTable!
                    let secondOK = index + 1 < count && (0x21...0x7E).contains(bytes[index + 1])
                    if secondOK, let scalar = table.scalar(byte, bytes[index + 1]) {
                        CharsetDecoder.appendUTF8(scalar, to: &output)
                    } else if report(.undecodable(byteOffset: index, term: repertoire.term(for: .g0(g0))), &problems, &output) {
                        return
                    }
                    index += secondOK ? 2 : 1
                }
                continue
            }

            // GR: G1. C1 (0x80–0x9F) is never a character here.
            guard byte >= 0xA0, let set = g1 else {
                let element: ISO2022CodeElement = g1.map { .g1($0) } ?? .g0(g0)
                if report(.undecodable(byteOffset: index, term: repertoire.term(for: element)), &problems, &output) { return }
                index += 1
                continue
            }
            switch set {
            case .singleByte(let singleByte):
                let scalar = singleByte.table.decode[Int(byte) - 0xA0]
                if scalar != 0 {
                    CharsetDecoder.appendUTF8(scalar, to: &output)
                } else if report(.undecodable(byteOffset: index, term: repertoire.term(for: .g1(set))), &problems, &output) {
                    return
                }
                index += 1
            case .katakana:
                if (0xA1...0xDF).contains(byte) {
                    CharsetDecoder.appendUTF8(0xFF61 + UInt32(byte - 0xA1), to: &output)
                } else if report(.undecodable(byteOffset: index, term: repertoire.term(for: .g1(set))), &problems, &output) {
                    return
                }
                index += 1
            case .ksX1001, .gb2312:
                let table = set.doubleByteTable!
                let firstOK = (0xA1...0xFE).contains(byte)
                let secondOK = index + 1 < count && (0xA1...0xFE).contains(bytes[index + 1])
                if firstOK, secondOK, let scalar = table.scalar(byte - 0x80, bytes[index + 1] - 0x80) {
                    CharsetDecoder.appendUTF8(scalar, to: &output)
                } else if report(.undecodable(byteOffset: index, term: repertoire.term(for: .g1(set))), &problems, &output) {
                    return
                }
                index += firstOK && secondOK ? 2 : 1
            }
        }
    }
}

// MARK: - Encoding

enum CharsetEncoder {
    static func encode(
        _ text: String, repertoire: CharsetRepertoire, vr: VR, terms: [String]
    ) throws(CharacterSetError) -> [UInt8] {
        switch repertoire.kind {
        case .ascii:
            for character in text where !character.unicodeScalars.allSatisfy({ $0.value < 0x80 && $0.value != 0x1B }) {
                throw .unencodable(character: character, terms: terms)
            }
            return Array(text.utf8)
        case .utf8:
            if let escape = text.firstIndex(where: { $0.unicodeScalars.contains("\u{1B}") }) {
                throw .unencodable(character: text[escape], terms: terms)
            }
            return Array(text.utf8)
        case .gb18030, .gbk:
            return try encodeWithIConv(text, name: repertoire.kind == .gbk ? "GBK" : "GB18030", terms: terms)
        case .iso2022:
            if repertoire.initialG0 == .ascii, text.utf8.allSatisfy({ $0 < 0x80 && $0 != 0x1B }) {
                return Array(text.utf8)
            }
            var encoder = ISO2022Encoder(repertoire: repertoire, vr: vr, terms: terms)
            return try encoder.run(text)
        }
    }

    static func encodeWithIConv(_ text: String, name: String, terms: [String]) throws(CharacterSetError) -> [UInt8] {
        if let escape = text.firstIndex(where: { $0.unicodeScalars.contains("\u{1B}") }) {
            throw .unencodable(character: text[escape], terms: terms)
        }
        let input = Array(text.utf8)
        guard let converter = IConvConverter(from: "UTF-8", to: name) else {
            if input.allSatisfy({ $0 < 0x80 }) { return input }
            throw .unencodable(character: text.first(where: { !$0.isASCII }) ?? " ", terms: terms)
        }
        var output: [UInt8] = []
        var failedOffset: Int?
        input.withUnsafeBufferPointer { buffer in
            _ = converter.convert(buffer, into: &output) { offset, _ in
                failedOffset = offset
                return nil
            }
        }
        if let failedOffset {
            throw .unencodable(character: character(in: text, atUTF8Offset: failedOffset), terms: terms)
        }
        return output
    }

    static func character(in text: String, atUTF8Offset offset: Int) -> Character {
        var consumed = 0
        for character in text {
            consumed += character.utf8.count
            if consumed > offset { return character }
        }
        return text.last ?? " "
    }

    /// Whether every character can be encoded in some value of this VR-free
    /// sense: delimiters are always encodable, so PN rules are used.
    static func canRepresent(_ text: String, repertoire: CharsetRepertoire) -> Bool {
        (try? encode(text, repertoire: repertoire, vr: .PN, terms: [])) != nil
    }
}

/// Writes ISO 2022 code extensions (PS3.5 §6.1.2.5.3).
struct ISO2022Encoder {
    let repertoire: CharsetRepertoire
    let vr: VR
    let terms: [String]
    let isPersonName: Bool
    let backslashDelimits: Bool
    var g0: G0Element
    var g1: G1Element?
    var output: [UInt8] = []

    init(repertoire: CharsetRepertoire, vr: VR, terms: [String]) {
        self.repertoire = repertoire
        self.vr = vr
        self.terms = terms
        isPersonName = vr == .PN
        backslashDelimits = !vr.isSingleValuedText
        g0 = repertoire.initialG0
        g1 = repertoire.initialG1
    }

    /// Where a scalar goes.
    enum Target {
        case g0Single(G0Element, UInt8)
        case g0Double(G0Element, UInt16)
        case g1Single(G1Element, UInt8)
        case g1Double(G1Element, UInt16)

        var element: ISO2022CodeElement {
            switch self {
            case .g0Single(let set, _), .g0Double(let set, _): return .g0(set)
            case .g1Single(let set, _), .g1Double(let set, _): return .g1(set)
            }
        }
    }

    func isDelimiter(_ value: UInt32) -> Bool {
        switch value {
        case 0x0D, 0x0A, 0x0C, 0x09: return true
        case 0x5C: return backslashDelimits
        case 0x5E, 0x3D: return isPersonName
        default: return false
        }
    }

    /// The code of `value` in `element`, if it has one.
    func target(in element: ISO2022CodeElement, for value: UInt32) -> Target? {
        switch element {
        case .g0(.ascii):
            return nil
        case .g0(.jisRoman):
            // ¥ is 0x5C in JIS X 0201 Romaji, which in multi-valued VRs would
            // read as the value delimiter.
            if value == 0xA5 && !backslashDelimits { return .g0Single(.jisRoman, 0x5C) }
            if value == 0x203E { return .g0Single(.jisRoman, 0x7E) }
            return nil
        case .g0(let set):
            return set.doubleByteTable!.encode[value].map { .g0Double(set, $0) }
        case .g1(.katakana):
            return (0xFF61...0xFF9F).contains(value) ? .g1Single(.katakana, UInt8(value - 0xFF61 + 0xA1)) : nil
        case .g1(.singleByte(let set)):
            return set.table.encode[value].map { .g1Single(.singleByte(set), $0) }
        case .g1(let set):
            return set.doubleByteTable!.encode[value].map { .g1Double(set, $0) }
        }
    }

    func isActive(_ element: ISO2022CodeElement) -> Bool {
        switch element {
        case .g0(let set): return g0 == set
        case .g1(let set): return g1 == set
        }
    }

    /// The target for a non-ASCII scalar: an element already designated if
    /// one has it, else the first in the declared order.
    func choose(_ value: UInt32) -> Target? {
        var first: Target?
        for element in repertoire.elements {
            guard let target = target(in: element, for: value) else { continue }
            if isActive(element) { return target }
            if first == nil { first = target }
        }
        return first
    }

    /// Whether a scalar can be written (ignoring state).
    func canEncode(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value == 0x1B { return false }
        if value < 0x20 || value == 0x7F || isDelimiter(value) { return true }
        if value < 0x80 {
            if repertoire.initialG0 == .ascii || repertoire.extensions { return true }
            return value != 0x5C && value != 0x7E  // JIS X 0201 Romaji without escapes
        }
        return choose(value) != nil
    }

    mutating func designate(_ set: G0Element) {
        if g0 != set {
            output.append(contentsOf: set.designation)
            g0 = set
        }
    }

    mutating func designate(_ set: G1Element) {
        if g1 != set {
            output.append(contentsOf: set.designation)
            g1 = set
        }
    }

    /// Returns to the initial designations: explicitly for G0, and for G1 when
    /// value 1 designates one (an empty initial G1 cannot be re-designated; the
    /// reader resets it at the delimiter).
    mutating func resetToInitial() {
        designate(repertoire.initialG0)
        if let initial = repertoire.initialG1 {
            designate(initial)
        } else {
            g1 = nil
        }
    }

    mutating func write(_ scalar: Unicode.Scalar) {
        let value = scalar.value
        if isDelimiter(value) {
            resetToInitial()
            output.append(UInt8(value))
            return
        }
        if value < 0x80 {
            if value < 0x20 || value == 0x7F {
                output.append(UInt8(value))
            } else if g0 == .ascii || (g0 == .jisRoman && value != 0x5C && value != 0x7E) {
                output.append(UInt8(value))
            } else {
                let romanOK = repertoire.initialG0 == .jisRoman && value != 0x5C && value != 0x7E
                designate(romanOK ? .jisRoman : .ascii)
                output.append(UInt8(value))
            }
            return
        }
        switch choose(value)! {
        case .g0Single(let set, let byte):
            designate(set)
            output.append(byte)
        case .g0Double(let set, let code):
            designate(set)
            output.append(UInt8(code >> 8))
            output.append(UInt8(code & 0xFF))
        case .g1Single(let set, let byte):
            designate(set)
            output.append(byte)
        case .g1Double(let set, let code):
            designate(set)
            output.append(UInt8(code >> 8) | 0x80)
            output.append(UInt8(code & 0xFF) | 0x80)
        }
    }

    /// KS X 1001 is designated at the start of the line or component that
    /// uses it (as in the PS3.5 Annex I long-text example), the other sets just before their first
    /// character (Annexes H and K).
    mutating func designateAtSegmentStart(_ characters: ArraySlice<[Unicode.Scalar]>) {
        guard repertoire.elements.contains(.g1(.ksX1001)), g1 != .ksX1001 else { return }
        for scalars in characters {
            for scalar in scalars {
                if isDelimiter(scalar.value) { return }
                if scalar.value < 0x80 { continue }
                if let target = choose(scalar.value), target.element == .g1(.ksX1001) {
                    designate(.ksX1001)
                }
                return
            }
        }
    }

    mutating func run(_ text: String) throws(CharacterSetError) -> [UInt8] {
        output.reserveCapacity(text.utf8.count + 16)
        // Each character's scalars, composed (NFC) when that is what makes
        // them encodable.
        var characters: [[Unicode.Scalar]] = []
        for character in text {
            var scalars = Array(character.unicodeScalars)
            if !scalars.allSatisfy(canEncode) {
                let composed = Array(String(character).precomposedStringWithCanonicalMapping.unicodeScalars)
                guard composed != scalars, composed.allSatisfy(canEncode) else {
                    throw .unencodable(character: character, terms: terms)
                }
                scalars = composed
            }
            characters.append(scalars)
        }
        var atSegmentStart = true
        for (index, scalars) in characters.enumerated() {
            if atSegmentStart {
                designateAtSegmentStart(characters[index...])
                atSegmentStart = false
            }
            for scalar in scalars {
                write(scalar)
                if isDelimiter(scalar.value) { atSegmentStart = true }
            }
        }
        resetToInitial()
        return output
    }
}
