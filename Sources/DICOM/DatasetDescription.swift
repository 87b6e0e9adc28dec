import Foundation

/// How ``DICOMFile/dumpText(options:)`` and ``Dataset/dumpText(options:)``
/// print values.
public struct DumpTextOptions: Sendable, Hashable {
    /// Values whose printed form is longer are cut and end in `...`; nil
    /// prints every value whole.
    public var maximumValueLength: Int?

    public init(maximumValueLength: Int? = 64) {
        self.maximumValueLength = maximumValueLength
    }
}

extension DICOMFile {
    /// The file in dcmdump's text format: the file meta information first
    /// (when the file has it), the transfer syntax, one line per element
    /// indented per nesting level, then the warnings and the error (lenient
    /// reading) of the file as `# Warning:` / `# Error:` lines.
    ///
    /// ```
    /// (0010,0010) PN [Yamada^Tarou=山田^太郎=やまだ^たろう]    #  54, 1 PatientName
    /// (0008,1140) SQ (Sequence with undefined length #=1)     # u/l, 1 ReferencedImageSequence
    ///   (fffe,e000) na (Item with undefined length #=2)         # u/l, 1 Item
    ///   ...
    /// ```
    public func dumpText(options: DumpTextOptions = DumpTextOptions()) -> String {
        var out = DumpTextWriter(options: options)
        if hasFileMeta {
            out.line("")
            out.line("# Dicom-File-Format")
            out.line("")
            out.line("# Dicom-Meta-Information-Header")
            out.line("# Used TransferSyntax: \(TransferSyntax.explicitVRLittleEndian.name)")
            out.dataset(meta, explicit: true, level: 0)
            out.line("")
        }
        out.line("# Dicom-Data-Set")
        out.line("# Used TransferSyntax: \(transferSyntax.name)\(transferSyntax.isKnown ? "" : " (unknown; read as explicit VR little endian)")")
        out.dataset(dataset, explicit: transferSyntax.isExplicitVR, level: 0)
        if dataset[.pixelData] == nil, error == nil, let pixelDataOffset {
            out.line("# (7fe0,0010) PixelData not read (header only): starts at offset \(pixelDataOffset)")
        }
        for warning in warnings { out.line("# Warning: \(warning.description)") }
        if let error { out.line("# Error: \(error.description)") }
        return out.text
    }
}

extension Dataset {
    /// The data set in dcmdump's text format, one line per element
    /// (`explicit`: lengths of sequences and items as explicit VR encodes them).
    public func dumpText(explicit: Bool = true, options: DumpTextOptions = DumpTextOptions()) -> String {
        var out = DumpTextWriter(options: options)
        out.dataset(self, explicit: explicit, level: 0)
        return out.text
    }
}

struct DumpTextWriter {
    let options: DumpTextOptions
    var lines: [String] = []

    init(options: DumpTextOptions) { self.options = options }

    var text: String { lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n" }

    mutating func line(_ s: String) { lines.append(s) }

    /// `(gggg,eeee) VR value…   # len, vm Keyword`, dcmdump's layout: the
    /// value padded to 40 columns.
    mutating func element(level: Int, tag: Tag, vr: String, value: String, length: String, vm: Int, name: String) {
        var s = String(repeating: "  ", count: level)
        s += DumpTextWriter.tagText(tag) + " " + vr + " " + value
        let width = DumpTextWriter.displayWidth(value)
        if width < 40 { s += String(repeating: " ", count: 40 - width) }
        s += " # " + (length.count < 3 ? String(repeating: " ", count: 3 - length.count) : "") + length
        s += ", \(vm) " + name
        line(s)
    }

    /// Terminal columns: East Asian wide and fullwidth characters take two,
    /// combining marks none.
    static func displayWidth(_ text: String) -> Int {
        var width = 0
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v < 0x300 { width += 1; continue }
            switch scalar.properties.generalCategory {
            case .nonspacingMark, .enclosingMark, .format: continue
            default: break
            }
            switch v {
            case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
                 0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
                 0xFFE0...0xFFE6, 0x20000...0x3FFFD:
                width += 2
            default:
                width += 1
            }
        }
        return width
    }

    static func tagText(_ tag: Tag) -> String {
        "(" + Tag.hex4(tag.group).lowercased() + "," + Tag.hex4(tag.element).lowercased() + ")"
    }

    static func name(of tag: Tag) -> String {
        if tag.isPrivateCreator { return "PrivateCreator" }
        if tag.isPrivate { return "Unknown Tag & Data" }
        guard let entry = DataDictionary.entry(for: tag) else { return "Unknown Tag & Data" }
        if !entry.keyword.isEmpty { return entry.keyword }
        if tag.isGroupLength { return "GenericGroupLength" }
        return entry.name.filter { $0.isLetter || $0.isNumber }
    }

    mutating func dataset(_ dataset: Dataset, explicit: Bool, level: Int) {
        for element in dataset.elements {
            self.element(element, in: dataset, explicit: explicit, level: level)
        }
    }

    mutating func element(_ element: DataElement, in dataset: Dataset, explicit: Bool, level: Int) {
        let tag = element.tag
        let name = DumpTextWriter.name(of: tag)
        switch element.value {
        case .sequence(let items):
            // Items of an undefined-length UN are implicit VR (CP-246).
            let itemsExplicit = element.vr == .UN ? false : explicit
            let kind = element.hasUndefinedLength ? "undefined" : "explicit"
            let length = element.hasUndefinedLength ? "u/l" : String(EncodedLength.sequenceContent(items, explicit: itemsExplicit))
            // An undefined-length UN holding items is shown as the SQ it is.
            self.element(level: level, tag: tag, vr: "SQ",
                         value: "(Sequence with \(kind) length #=\(items.count))", length: length, vm: 1, name: name)
            for item in items {
                let itemKind = item.isUndefinedLengthItem ? "undefined" : "explicit"
                let itemLength = item.isUndefinedLengthItem ? "u/l" : String(EncodedLength.dataset(item, explicit: itemsExplicit))
                self.element(level: level + 1, tag: .item, vr: "na",
                             value: "(Item with \(itemKind) length #=\(item.count))", length: itemLength, vm: 1, name: "Item")
                self.dataset(item, explicit: itemsExplicit, level: level + 2)
                self.element(level: level + 1, tag: .itemDelimitationItem, vr: "na",
                             value: item.isUndefinedLengthItem ? "(ItemDelimitationItem)" : "(ItemDelimitationItem for re-encoding)",
                             length: "0", vm: 0, name: "ItemDelimitationItem")
            }
            self.element(level: level, tag: .sequenceDelimitationItem, vr: "na",
                         value: element.hasUndefinedLength ? "(SequenceDelimitationItem)" : "(SequenceDelimitationItem for re-encod.)",
                         length: "0", vm: 0, name: "SequenceDelimitationItem")

        case .fragments(let encapsulated):
            let count = encapsulated.fragments.count + 1
            self.element(level: level, tag: tag, vr: element.vr.rawValue,
                         value: "(PixelSequence #=\(count))", length: "u/l", vm: 1, name: name)
            for fragment in [encapsulated.offsetTable] + encapsulated.fragments {
                self.element(level: level + 1, tag: .item, vr: "pi",
                             value: fragment.isEmpty ? "(no value available)" : shortenedList(hexBytes(fragment, limit: limit)),
                             length: String(fragment.count), vm: 1, name: "Item")
            }
            self.element(level: level, tag: .sequenceDelimitationItem, vr: "na",
                         value: "(SequenceDelimitationItem)", length: "0", vm: 0, name: "SequenceDelimitationItem")

        case .bytes(let data):
            let (value, vm, problems) = describe(element, data: data, in: dataset)
            var comment = name
            if !problems.isEmpty {
                let shown = problems.prefix(3).map { $0.description }.joined(separator: "; ")
                comment += " ! character set: " + shown + (problems.count > 3 ? " (and \(problems.count - 3) more)" : "")
            }
            self.element(level: level, tag: tag, vr: element.vr.rawValue, value: value,
                         length: String(data.count), vm: vm, name: comment)
        }
    }

    var limit: Int { options.maximumValueLength ?? Int.max }

    /// A string value cut to the maximum length, `...` marking the cut.
    func shortened(_ text: String) -> String {
        guard let maximum = options.maximumValueLength, text.count > maximum else { return text }
        return String(text.prefix(maximum)) + "..."
    }

    /// A `\`-separated list cut after the last whole value that fits.
    func shortenedList(_ text: String) -> String {
        guard let maximum = options.maximumValueLength, text.count > maximum else { return text }
        let head = text.prefix(maximum + 1)
        guard let cut = head.lastIndex(of: "\\") else { return String(text.prefix(maximum)) + "..." }
        return String(text[..<cut]) + "..."
    }

    /// The printed value, the value multiplicity and character-set problems.
    func describe(_ element: DataElement, data: Data, in dataset: Dataset) -> (String, Int, [CharacterSetError]) {
        if data.isEmpty { return ("(no value available)", 0, []) }
        let vr = element.vr
        if vr.isString {
            var decoded = DICOMText.decode(data, vr: vr, characterSet: dataset.characterSet)
            if element.tag == .specificCharacterSet {
                decoded.problems += dataset.characterSet.ignoredTermProblems
            }
            let values = DICOMText.values(of: decoded.text, vr: vr)
            if values.isEmpty { return ("(no value available)", 0, decoded.problems) }
            if vr == .UI, values.count == 1, let info = UIDRegistry.info(for: values[0]), !info.keyword.isEmpty {
                return ("=" + info.keyword, 1, decoded.problems)
            }
            let joined = values.joined(separator: "\\")
            return ("[" + shortened(DumpTextWriter.escapingControls(joined)) + "]", values.count, decoded.problems)
        }
        switch vr {
        case .AT:
            let tags = DICOMBinary.integers(data, vr: .AT).map { raw in
                DumpTextWriter.tagText(Tag(rawValue: UInt32(truncatingIfNeeded: raw)))
            }
            return (shortenedList(tags.joined(separator: "\\")), tags.count, [])
        case .US, .SS, .UL, .SL, .SV:
            let values = DICOMBinary.integers(data, vr: vr)
            return (shortenedList(joinedPrefix(values.lazy.map(String.init))), values.count, [])
        case .UV:
            let values = DICOMBinary.read(data, UInt64.self)
            return (shortenedList(joinedPrefix(values.lazy.map { String($0) })), values.count, [])
        case .FL:
            let values = DICOMBinary.read(data, Float.self)
            return (shortenedList(joinedPrefix(values.lazy.map { $0.description })), values.count, [])
        case .FD:
            let values = DICOMBinary.read(data, Double.self)
            return (shortenedList(joinedPrefix(values.lazy.map { $0.description })), values.count, [])
        case .OW:
            return (shortenedList(hexWords(data, size: 2, limit: limit)), 1, [])
        case .OF, .OL:
            return (shortenedList(hexWords(data, size: 4, limit: limit)), 1, [])
        case .OD, .OV:
            return (shortenedList(hexWords(data, size: 8, limit: limit)), 1, [])
        default:   // OB, UN
            return (shortenedList(hexBytes(data, limit: limit)), 1, [])
        }
    }

    /// Values joined with `\`, stopping once the text is past the limit
    /// (so a 100 000-value element costs no more than a short one).
    func joinedPrefix(_ values: some Sequence<String>) -> String {
        var out = ""
        for value in values {
            if !out.isEmpty { out += "\\" }
            out += value
            if out.count > limit { break }
        }
        return out
    }

    /// `ff\d8\ff…` for at most enough bytes to pass `limit` characters.
    func hexBytes(_ data: Data, limit: Int) -> String {
        hexWords(data, size: 1, limit: limit)
    }

    /// Little-endian words of `size` bytes as hex, `\`-separated.
    func hexWords(_ data: Data, size: Int, limit: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset + size <= raw.count {
                if !out.isEmpty { out.append(0x5C) }
                for i in stride(from: size - 1, through: 0, by: -1) {
                    let byte = raw[offset + i]
                    out.append(digits[Int(byte >> 4)])
                    out.append(digits[Int(byte & 0xF)])
                }
                offset += size
                if out.count > limit { break }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Line breaks and other control characters of LT/ST/UT values as
    /// escapes, so every element stays on one line.
    static func escapingControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + String(scalar.value, radix: 16, uppercase: false)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

/// Value lengths as the data set would be encoded with defined lengths
/// where it has them (what dcmdump prints for explicit-length sequences).
enum EncodedLength {
    static func dataset(_ dataset: Dataset, explicit: Bool) -> Int {
        dataset.elements.reduce(0) { $0 + element($1, explicit: explicit) }
    }

    static func element(_ element: DataElement, explicit: Bool) -> Int {
        let header = explicit ? (element.vr.hasLongLength || element.items != nil ? 12 : 8) : 8
        switch element.value {
        case .bytes(let data):
            return header + data.count + data.count % 2
        case .sequence(let items):
            let itemsExplicit = element.vr == .UN ? false : explicit
            return header + sequenceContent(items, explicit: itemsExplicit) + (element.hasUndefinedLength ? 8 : 0)
        case .fragments(let encapsulated):
            return header + ([encapsulated.offsetTable] + encapsulated.fragments).reduce(0) { $0 + 8 + $1.count } + 8
        }
    }

    static func sequenceContent(_ items: [Dataset], explicit: Bool) -> Int {
        items.reduce(0) { $0 + 8 + dataset($1, explicit: explicit) + ($1.isUndefinedLengthItem ? 8 : 0) }
    }
}
