import DICOM
import Foundation

/// A PDF object (ISO 32000-1 §7.3), as far as reading the file structure
/// needs: no content streams, no fonts.
indirect enum PDFObject: Equatable {
    case integer(Int)
    case real(Double)
    case bool(Bool)
    case null
    /// A name without its slash, `#xx` escapes resolved.
    case name(String)
    /// A string's bytes (literal escapes and hexadecimal digits resolved).
    case string([UInt8])
    case array([PDFObject])
    case dictionary([String: PDFObject])
    case reference(object: Int, generation: Int)
    /// A bare word: `obj`, `endobj`, `stream`, `xref`, `trailer`, ….
    case keyword(String)

    subscript(key: String) -> PDFObject? {
        if case .dictionary(let d) = self { return d[key] }
        return nil
    }
    var integer: Int? { if case .integer(let v) = self { return v } else { return nil } }
    var name: String? { if case .name(let v) = self { return v } else { return nil } }
    var array: [PDFObject]? { if case .array(let v) = self { return v } else { return nil } }
    var dictionary: [String: PDFObject]? { if case .dictionary(let v) = self { return v } else { return nil } }
}

/// Reads PDF objects from bytes (ISO 32000-1 §7.2 lexical conventions).
struct PDFLexer {
    let bytes: [UInt8]
    var position: Int

    init(_ bytes: [UInt8], at position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 || b == 0x0C || b == 0x00 }
    static func isDelimiter(_ b: UInt8) -> Bool {
        isSpace(b) || b == 0x2F || b == 0x3C || b == 0x3E || b == 0x5B || b == 0x5D || b == 0x28 || b == 0x29 || b == 0x25
            || b == 0x7B || b == 0x7D
    }

    mutating func skipSpace() {
        while position < bytes.count {
            if PDFLexer.isSpace(bytes[position]) {
                position += 1
            } else if bytes[position] == 0x25 {   // % comment to the end of the line
                while position < bytes.count, bytes[position] != 0x0A, bytes[position] != 0x0D { position += 1 }
            } else {
                return
            }
        }
    }

    /// Whether `word` follows (after white space), as a whole token; consumed when it does.
    mutating func accept(_ word: String) -> Bool {
        skipSpace()
        let w = Array(word.utf8)
        guard position + w.count <= bytes.count, bytes[position..<(position + w.count)].elementsEqual(w) else { return false }
        if position + w.count < bytes.count, !PDFLexer.isDelimiter(bytes[position + w.count]) { return false }
        position += w.count
        return true
    }

    /// The next object; `n g R` is read as one reference. Nil at the end
    /// or on bytes that are no object (and for nesting deeper than 32).
    mutating func object(depth: Int = 0) -> PDFObject? {
        guard depth < 32 else { return nil }
        skipSpace()
        guard position < bytes.count else { return nil }
        let b = bytes[position]
        switch b {
        case 0x2F:   // /Name
            position += 1
            var name: [UInt8] = []
            while position < bytes.count, !PDFLexer.isDelimiter(bytes[position]) {
                if bytes[position] == 0x23, position + 2 < bytes.count,
                   let hi = PDFLexer.hexValue(bytes[position + 1]), let lo = PDFLexer.hexValue(bytes[position + 2]) {
                    name.append(hi << 4 | lo)
                    position += 3
                } else {
                    name.append(bytes[position])
                    position += 1
                }
            }
            return .name(String(decoding: name, as: UTF8.self))
        case 0x28:
            return .string(literalString())
        case 0x3C:
            if position + 1 < bytes.count, bytes[position + 1] == 0x3C {
                position += 2
                var d: [String: PDFObject] = [:]
                while true {
                    skipSpace()
                    guard position < bytes.count else { return nil }
                    if bytes[position] == 0x3E {
                        guard position + 1 < bytes.count, bytes[position + 1] == 0x3E else { return nil }
                        position += 2
                        return .dictionary(d)
                    }
                    guard case .name(let key)? = object(depth: depth + 1), let value = object(depth: depth + 1) else { return nil }
                    d[key] = value
                }
            }
            position += 1
            var digits: [UInt8] = []
            while position < bytes.count, bytes[position] != 0x3E {
                if let v = PDFLexer.hexValue(bytes[position]) { digits.append(v) }
                position += 1
            }
            position += 1
            if digits.count % 2 == 1 { digits.append(0) }
            return .string(stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] })
        case 0x5B:
            position += 1
            var items: [PDFObject] = []
            while true {
                skipSpace()
                guard position < bytes.count else { return nil }
                if bytes[position] == 0x5D { position += 1; return .array(items) }
                guard let item = object(depth: depth + 1) else { return nil }
                items.append(item)
            }
        case 0x2B, 0x2D, 0x2E, 0x30...0x39:
            let start = position
            position += 1
            while position < bytes.count, !PDFLexer.isDelimiter(bytes[position]) { position += 1 }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard let value = Int(text) else { return Double(text).map { .real($0) } }
            // `n g R`: a reference; otherwise the integer alone.
            let after = position
            if value >= 0, case .integer(let generation)? = plainNumber(), generation >= 0, accept("R") {
                return .reference(object: value, generation: generation)
            }
            position = after
            return .integer(value)
        default:
            let start = position
            while position < bytes.count, !PDFLexer.isDelimiter(bytes[position]) { position += 1 }
            guard position > start else { position += 1; return nil }
            let word = String(decoding: bytes[start..<position], as: UTF8.self)
            switch word {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null": return .null
            default: return .keyword(word)
            }
        }
    }

    /// An integer token, without looking for a reference.
    private mutating func plainNumber() -> PDFObject? {
        skipSpace()
        let start = position
        while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
        guard position > start, position == bytes.count || PDFLexer.isDelimiter(bytes[position]) else { return nil }
        return Int(String(decoding: bytes[start..<position], as: UTF8.self)).map { .integer($0) }
    }

    /// `( … )` with nested parentheses and escapes (§7.3.4.2); at the `(`.
    private mutating func literalString() -> [UInt8] {
        var raw: [UInt8] = []
        var depth = 1
        position += 1
        while position < bytes.count {
            let b = bytes[position]
            if b == 0x5C, position + 1 < bytes.count {
                position += 1
                let e = bytes[position]
                switch e {
                case 0x6E: raw.append(0x0A)
                case 0x72: raw.append(0x0D)
                case 0x74: raw.append(0x09)
                case 0x62: raw.append(0x08)
                case 0x66: raw.append(0x0C)
                case 0x0A: break
                case 0x0D: if position + 1 < bytes.count, bytes[position + 1] == 0x0A { position += 1 }
                case 0x30...0x37:
                    var value = 0, n = 0
                    while n < 3, position < bytes.count, (0x30...0x37).contains(bytes[position]) {
                        value = value * 8 + Int(bytes[position] - 0x30); position += 1; n += 1
                    }
                    raw.append(UInt8(truncatingIfNeeded: value))
                    continue
                default: raw.append(e)
                }
                position += 1
                continue
            }
            position += 1
            if b == 0x28 { depth += 1 }
            if b == 0x29 { depth -= 1; if depth == 0 { break } }
            raw.append(b)
        }
        return raw
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }
}

/// A PDF's cross-reference information (ISO 32000-1 §7.5.4, §7.5.8): the
/// classic `xref` tables and PDF 1.5 cross-reference streams, following
/// `/Prev` (and a hybrid file's `/XRefStm`) from `startxref`, the newest
/// entry of an object winning. Reads indirect objects, also those inside
/// compressed object streams (`/Type /ObjStm`, §7.5.7).
///
/// Hostile files are bounded: at most 64 sections (a `/Prev` loop ends at
/// the first repeat), streams inflate to at most 64 MiB each, object
/// streams hold at most 1 000 000 objects, nesting at most 32 deep, and
/// an object stream is never looked up through another one.
struct PDFCrossReference {
    enum Entry: Equatable {
        case free
        case offset(Int)
        case compressed(stream: Int, index: Int)
    }

    struct Failure: Error { let message: String }

    let bytes: [UInt8]
    private(set) var entries: [Int: Entry] = [:]
    /// The newest trailer's (or cross-reference stream's) dictionary entries, merged newest first.
    private(set) var trailer: [String: PDFObject] = [:]

    static let maximumSections = 64
    static let maximumInflated = 64 << 20
    static let maximumObjects = 1_000_000

    init(_ bytes: [UInt8]) throws(Failure) {
        self.bytes = bytes
        guard let start = PDFDocumentInfo.lastOccurrence(Array("startxref".utf8), in: bytes, within: 4096) else {
            throw Failure(message: "no startxref")
        }
        var lexer = PDFLexer(bytes, at: start + 9)
        guard case .integer(let first)? = lexer.object() else { throw Failure(message: "no startxref offset") }
        var pending = [first]
        var visited = Set<Int>()
        while let offset = pending.popLast() {
            guard visited.insert(offset).inserted else { continue }   // a /Prev loop
            guard visited.count <= PDFCrossReference.maximumSections else { throw Failure(message: "more than \(PDFCrossReference.maximumSections) cross-reference sections") }
            guard offset >= 0, offset < bytes.count else { throw Failure(message: "cross-reference offset \(offset) outside the file") }
            let dictionary = try readSection(at: offset)
            for (key, value) in dictionary where trailer[key] == nil { trailer[key] = value }
            // Older sections are read later; a hybrid file's stream before its /Prev.
            if let previous = dictionary["Prev"]?.integer { pending.append(previous) }
            if let stream = dictionary["XRefStm"]?.integer { pending.append(stream) }
        }
    }

    /// One section: a table with its trailer, or a cross-reference stream. Its dictionary.
    private mutating func readSection(at offset: Int) throws(Failure) -> [String: PDFObject] {
        var lexer = PDFLexer(bytes, at: offset)
        if lexer.accept("xref") {
            while true {
                if lexer.accept("trailer") {
                    guard let d = lexer.object()?.dictionary else { throw Failure(message: "trailer is not a dictionary") }
                    return d
                }
                guard case .integer(let first)? = lexer.object(), case .integer(let count)? = lexer.object(),
                      first >= 0, count >= 0, count <= PDFCrossReference.maximumObjects else {
                    throw Failure(message: "damaged xref table")
                }
                for k in 0..<count {
                    guard case .integer(let field1)? = lexer.object(), case .integer(_)? = lexer.object(),
                          case .keyword(let kind)? = lexer.object() else { throw Failure(message: "damaged xref entry") }
                    if entries[first + k] == nil { entries[first + k] = kind == "n" ? .offset(field1) : .free }
                }
            }
        }
        let (dictionary, data) = try streamObject(at: offset)
        guard dictionary["Type"]?.name == "XRef" else { throw Failure(message: "startxref points at neither xref nor an XRef stream") }
        guard let widths = dictionary["W"]?.array?.compactMap(\.integer), widths.count == 3, widths.allSatisfy({ (0...8).contains($0) }) else {
            throw Failure(message: "XRef stream /W is not three widths of at most 8 bytes")
        }
        let size = dictionary["Size"]?.integer ?? 0
        let index = dictionary["Index"]?.array?.compactMap(\.integer) ?? [0, size]
        guard index.count % 2 == 0 else { throw Failure(message: "XRef stream /Index is odd") }
        let rowLength = widths.reduce(0, +)
        guard rowLength > 0 else { throw Failure(message: "XRef stream rows are empty") }
        var row = 0
        func field(_ at: Int, _ width: Int) -> Int {
            var v = 0
            for k in 0..<width { v = v << 8 | Int(data[at + k]) }
            return v
        }
        for pair in stride(from: 0, to: index.count, by: 2) {
            let first = index[pair], count = index[pair + 1]
            guard first >= 0, count >= 0, count <= PDFCrossReference.maximumObjects else { throw Failure(message: "XRef stream /Index out of range") }
            for k in 0..<count {
                let at = row * rowLength
                guard at + rowLength <= data.count else { return dictionary }   // short data: what is there
                row += 1
                // A missing type field means type 1 (§7.5.8.2, Table 17).
                let type = widths[0] == 0 ? 1 : field(at, widths[0])
                let f2 = field(at + widths[0], widths[1]), f3 = field(at + widths[0] + widths[1], widths[2])
                guard entries[first + k] == nil else { continue }
                switch type {
                case 0: entries[first + k] = .free
                case 1: entries[first + k] = .offset(f2)
                case 2: entries[first + k] = .compressed(stream: f2, index: f3)
                default: break   // reserved types are null references
                }
            }
        }
        return dictionary
    }

    /// `n g obj << … >> stream … endstream` at `offset`: the dictionary and
    /// the decoded data (FlateDecode and PNG predictors; no other filter).
    private func streamObject(at offset: Int) throws(Failure) -> ([String: PDFObject], [UInt8]) {
        var lexer = PDFLexer(bytes, at: offset)
        guard case .integer? = lexer.object(), case .integer? = lexer.object(), lexer.accept("obj"),
              let dictionary = lexer.object()?.dictionary, lexer.accept("stream") else {
            throw Failure(message: "no stream object at offset \(offset)")
        }
        var start = lexer.position
        if start < bytes.count, bytes[start] == 0x0D { start += 1 }
        if start < bytes.count, bytes[start] == 0x0A { start += 1 }
        var end: Int
        if let length = dictionary["Length"]?.integer, length >= 0, start + length <= bytes.count {
            end = start + length
        } else {
            // An indirect or wrong /Length: up to endstream.
            guard let found = PDFDocumentInfo.find(Array("endstream".utf8), in: bytes, from: start) else {
                throw Failure(message: "stream without endstream at offset \(offset)")
            }
            end = found
            while end > start, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        }
        return (dictionary, try PDFCrossReference.decode(Array(bytes[start..<end]), dictionary: dictionary))
    }

    static func decode(_ raw: [UInt8], dictionary: [String: PDFObject]) throws(Failure) -> [UInt8] {
        let filters = dictionary["Filter"].map { $0.array ?? [$0] } ?? []
        let parameters = dictionary["DecodeParms"].map { $0.array ?? [$0] } ?? []
        var data = raw
        for (k, filter) in filters.enumerated() {
            guard filter.name == "FlateDecode" else {
                throw Failure(message: "stream filter \(filter.name ?? "?") is not supported (FlateDecode only)")
            }
            do {
                data = [UInt8](try Inflate.zlib(Data(data), limit: maximumInflated))
            } catch {
                throw Failure(message: "FlateDecode: \(error.message)")
            }
            if k < parameters.count, let p = parameters[k].dictionary {
                data = try unpredict(data, parameters: p)
            }
        }
        return data
    }

    /// PNG predictors (`/Predictor` 10–15, §7.4.4.4): each row starts
    /// with its filter type byte.
    static func unpredict(_ data: [UInt8], parameters: [String: PDFObject]) throws(Failure) -> [UInt8] {
        let predictor = parameters["Predictor"]?.integer ?? 1
        if predictor == 1 { return data }
        guard predictor >= 10 else { throw Failure(message: "TIFF predictor \(predictor) is not supported") }
        let colours = parameters["Colors"]?.integer ?? 1, bits = parameters["BitsPerComponent"]?.integer ?? 8
        let columns = parameters["Columns"]?.integer ?? 1
        guard (1...32).contains(colours), [1, 2, 4, 8, 16].contains(bits), (1...(1 << 24)).contains(columns) else {
            throw Failure(message: "PNG predictor parameters out of range")
        }
        let bpp = max(1, colours * bits / 8)
        let rowLength = (columns * colours * bits + 7) / 8
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var previous = [UInt8](repeating: 0, count: rowLength)
        var at = 0
        while at + 1 + rowLength <= data.count {
            let type = data[at]
            var row = Array(data[(at + 1)..<(at + 1 + rowLength)])
            for i in 0..<rowLength {
                let left = i >= bpp ? Int(row[i - bpp]) : 0, up = Int(previous[i]), upLeft = i >= bpp ? Int(previous[i - bpp]) : 0
                let add: Int
                switch type {
                case 0: add = 0
                case 1: add = left
                case 2: add = up
                case 3: add = (left + up) / 2
                case 4:
                    let p = left + up - upLeft
                    let pa = abs(p - left), pb = abs(p - up), pc = abs(p - upLeft)
                    add = pa <= pb && pa <= pc ? left : (pb <= pc ? up : upLeft)
                default: throw Failure(message: "PNG predictor row type \(type)")
                }
                row[i] = UInt8(truncatingIfNeeded: Int(row[i]) + add)
            }
            out += row
            previous = row
            at += 1 + rowLength
        }
        return out
    }

    /// The indirect object `number`: uncompressed at its offset, or inside
    /// its object stream.
    func object(_ number: Int) throws(Failure) -> PDFObject {
        switch entries[number] {
        case .offset(let offset)?:
            guard offset >= 0, offset < bytes.count else { throw Failure(message: "object \(number) offset outside the file") }
            var lexer = PDFLexer(bytes, at: offset)
            guard case .integer(let found)? = lexer.object(), found == number, case .integer? = lexer.object(), lexer.accept("obj"),
                  let value = lexer.object() else {
                throw Failure(message: "object \(number) is not at its offset \(offset)")
            }
            return value
        case .compressed(let streamNumber, let index)?:
            guard case .offset(let offset)? = entries[streamNumber] else {
                throw Failure(message: "object stream \(streamNumber) of object \(number) is not in the file uncompressed")
            }
            let (dictionary, data) = try streamObject(at: offset)
            guard dictionary["Type"]?.name == "ObjStm", let count = dictionary["N"]?.integer, let first = dictionary["First"]?.integer,
                  (0...PDFCrossReference.maximumObjects).contains(count), first >= 0, first <= data.count else {
                throw Failure(message: "object \(streamNumber) is not an object stream")
            }
            // The header: N pairs of object number and offset (from /First).
            var header = PDFLexer(data)
            var offsets: [(number: Int, offset: Int)] = []
            for _ in 0..<count {
                guard case .integer(let n)? = header.object(), case .integer(let o)? = header.object() else { break }
                offsets.append((n, o))
            }
            // The index the cross-reference gives, else a search by number.
            let slot = index < offsets.count && offsets[index].number == number ? index : offsets.firstIndex { $0.number == number }
            guard let slot, first + offsets[slot].offset < data.count else {
                throw Failure(message: "object \(number) is not in object stream \(streamNumber)")
            }
            var lexer = PDFLexer(data, at: first + offsets[slot].offset)
            guard let value = lexer.object() else { throw Failure(message: "object \(number) in object stream \(streamNumber) does not parse") }
            return value
        default:
            throw Failure(message: "object \(number) is not in the cross-reference")
        }
    }
}
