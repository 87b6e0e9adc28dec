// Specific Character Set (0008,0005): PS3.3 C.12.1.1.2, PS3.5 §6.1 and §6.2.1.

/// The character repertoire named by the values of Specific Character Set
/// (0008,0005), and the decoding and encoding of text values in it.
///
/// Every defined term of PS3.3 C.12.1.1.2 is supported:
///
/// - single-byte without code extensions: `ISO_IR 6` (the default, also
///   written as an empty or absent value), `ISO_IR 100` `101` `109` `110`
///   `144` `127` `126` `138` `148` `203` `166` `13`;
/// - single-byte with code extensions: the same as `ISO 2022 IR nnn`
///   (including `ISO 2022 IR 6`);
/// - multi-byte with code extensions: `ISO 2022 IR 87` (JIS X 0208),
///   `ISO 2022 IR 159` (JIS X 0212), `ISO 2022 IR 149` (KS X 1001),
///   `ISO 2022 IR 58` (GB 2312);
/// - multi-byte without code extensions: `ISO_IR 192` (UTF-8), `GB18030`, `GBK`.
///
/// ## ISO 2022 code extensions
///
/// Value 1 gives the initial designations: G0 is ASCII (JIS X 0201 Romaji for
/// `ISO 2022 IR 13`), G1 is the value's right half (none for an empty value 1).
/// Escape sequences switch G0/G1; the decoder returns to the initial
/// designations at CR, LF, FF and TAB, at `\` in multi-valued VRs, and at `^`
/// and `=` in PN (PS3.5 §6.1.2.5.3, §6.2.1.2) — but only where that byte is a
/// single-byte character: 0x5C inside a JIS X 0208 pair (`本` is 0x4B 0x5C) is
/// not a delimiter. The encoder designates a set just before its first
/// character (for KS X 1001: at the start of the line or component that uses
/// it, as in the Annex I long-text example) and switches explicitly back to
/// the initial G0 (and to a non-empty initial G1) before every such delimiter
/// and at the end of the value, as in PS3.5 Annexes H, I and K.
///
/// ## Leniency (documented choices)
///
/// - When there is more than one value, `ISO_IR nnn` is read as
///   `ISO 2022 IR nnn` (a common mistake, e.g. `ISO_IR 13\ISO 2022 IR 87`).
/// - A multi-byte G1 set as value 1 (`ISO 2022 IR 149` or `ISO 2022 IR 58`
///   alone) is initially designated to G1, so EUC-KR / EUC-CN bytes written
///   without escape sequences decode, as other toolkits read them. A G0 set as
///   value 1 (`ISO 2022 IR 87`) still starts in ASCII.
/// - Decoding honours every escape sequence DICOM defines even when its term
///   is not declared, and also in the default and the single-byte sets without
///   extensions (ISO 2022 Japanese text is often written with no or the wrong
///   (0008,0005)). In ISO_IR 192, GB18030 and GBK an ESC byte is reported.
/// - JIS X 0208 positions left empty by the standard but used by the NEC and
///   IBM extensions (e.g. `①` at row 13) decode; they are never encoded.
/// - Encoding a character that is not representable retries with its
///   canonical composition (NFC), so decomposed kana such as `か` + U+3099
///   encode as `が`.
///
/// Bytes that cannot be decoded are never dropped: ``decode(_:vr:)`` throws
/// at the first, ``decodeLossy(_:vr:)`` replaces each with U+FFFD and lists
/// them. C1 bytes 0x80–0x9F are undecodable in the ISO 2022 and single-byte
/// sets (they are usually Windows code page bytes, mislabelled).
///
/// Padding is not removed: strip trailing spaces (and NULs) from the bytes
/// first if the caller wants them gone (a 0x20 byte is never part of a
/// multi-byte character in any of these sets).
public struct SpecificCharacterSet: Sendable, Hashable, CustomStringConvertible {
    /// The default repertoire, ISO_IR 6 (ASCII): (0008,0005) absent or empty.
    public static let `default` = SpecificCharacterSet(parsed: .defaultParsed)

    /// The values as given (spaces trimmed), in order.
    public let terms: [String]

    /// Values that were not understood, or could not be used (lenient
    /// initialiser only); they are ignored.
    public let unknownTerms: [String]

    /// The defined terms actually in use, spelled as PS3.3 defines them: the
    /// value to write back into (0008,0005). An empty value 1 stands for
    /// ISO 2022 IR 6; the default repertoire is `[]`.
    public let canonicalTerms: [String]

    let repertoire: CharsetRepertoire

    private init(parsed: ParsedTerms) {
        terms = parsed.given
        canonicalTerms = parsed.canonical
        unknownTerms = parsed.unknown
        repertoire = parsed.repertoire
    }

    /// Creates the character set from the values of (0008,0005) as read
    /// (value 1 may be empty, meaning ISO_IR 6 / ISO 2022 IR 6). Leading and
    /// trailing spaces are ignored; terms are otherwise matched exactly.
    ///
    /// - Throws: ``CharacterSetError/unknownTerm(_:)`` for a term that is not
    ///   defined; ``CharacterSetError/invalidCombination(_:)`` when ISO_IR 192,
    ///   GB18030 or GBK (which allow no code extensions) come with other terms.
    public init(terms: [String]) throws(CharacterSetError) {
        self.init(parsed: try ParsedTerms(terms, lenient: false))
    }

    /// Creates the character set from values that may be misspelled.
    ///
    /// Terms are matched ignoring case, spaces, `_` and `-` (so `ISO-IR 100`,
    /// `iso_ir100` and `ISO IR 100` all mean `ISO_IR 100`), and a few common
    /// aliases are understood: `UTF-8` (ISO_IR 192), `ISO-8859-n` and `LATIN1`
    /// (the matching ISO_IR), `GB2312` (ISO 2022 IR 58), `EUC-KR`/`KSC5601`
    /// (ISO 2022 IR 149). A term still unknown is ignored and listed in
    /// ``unknownTerms``: an unknown value 1 falls back to the default
    /// repertoire (ASCII) for the initial state, so text in it decodes only as
    /// far as it is ASCII and the rest is reported, never guessed. With a
    /// stand-alone set (ISO_IR 192, GB18030, GBK) among several values, the
    /// first stand-alone set is used and the other values are listed in
    /// ``unknownTerms``.
    public init(lenientTerms: [String]) {
        // Parsing leniently never throws.
        self.init(parsed: (try? ParsedTerms(lenientTerms, lenient: true)) ?? ParsedTerms.defaultParsed)
    }

    /// Why each of ``unknownTerms`` is ignored: a term DICOM does not define,
    /// or a defined one that the stand-alone set in use (ISO_IR 192,
    /// GB18030, GBK) allows no company (said once, naming every value).
    public var ignoredTermProblems: [CharacterSetError] {
        var problems: [CharacterSetError] = []
        for term in unknownTerms {
            if CharsetTermDefinition.table[term] != nil || CharsetTermDefinition.aliases[CharsetTermDefinition.key(term)] != nil {
                if !problems.contains(.invalidCombination(terms)) { problems.append(.invalidCombination(terms)) }
            } else {
                problems.append(.unknownTerm(term))
            }
        }
        return problems
    }

    /// True when this is the default repertoire: ASCII only.
    public var isDefault: Bool { repertoire.isDefault }

    /// The values joined with `\` as in the data set; `ISO_IR 6` for the
    /// default repertoire.
    public var description: String {
        let joined = terms.joined(separator: "\\")
        return joined.isEmpty ? "ISO_IR 6" : joined
    }

    /// Two sets are equal when their ``canonicalTerms`` are: they then decode
    /// and encode alike, however the terms were spelled.
    public static func == (lhs: SpecificCharacterSet, rhs: SpecificCharacterSet) -> Bool {
        lhs.canonicalTerms == rhs.canonicalTerms
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(canonicalTerms)
    }

    // MARK: Decoding

    /// Decodes one element value's bytes (all its values: in multi-valued VRs
    /// the `\` delimiters are kept in the returned string). VRs that do not
    /// use the specific character set (`VR.usesSpecificCharacterSet == false`)
    /// are decoded in the default repertoire (ASCII).
    ///
    /// - Throws: ``CharacterSetError/undecodable(byteOffset:term:)`` or
    ///   ``CharacterSetError/invalidEscapeSequence(byteOffset:)`` for the first
    ///   byte that cannot be decoded.
    public func decode(_ bytes: some Collection<UInt8>, vr: VR) throws(CharacterSetError) -> String {
        var problems: [CharacterSetError] = []
        let text = Self.withBuffer(bytes) { buffer in
            CharsetDecoder.decode(buffer, repertoire: repertoire(for: vr), vr: vr, stopAtFirst: true, problems: &problems)
        }
        if let first = problems.first { throw first }
        return text
    }

    /// Decodes like ``decode(_:vr:)`` but never fails: every byte (or
    /// malformed pair or escape sequence) that cannot be decoded becomes
    /// U+FFFD, and is listed, with its offset, in `problems`.
    public func decodeLossy(_ bytes: some Collection<UInt8>, vr: VR) -> (text: String, problems: [CharacterSetError]) {
        var problems: [CharacterSetError] = []
        let text = Self.withBuffer(bytes) { buffer in
            CharsetDecoder.decode(buffer, repertoire: repertoire(for: vr), vr: vr, stopAtFirst: false, problems: &problems)
        }
        return (text, problems)
    }

    /// Decodes one element value and splits it into its values. The split is
    /// made on the decoded text, so a 0x5C byte that belongs to a multi-byte
    /// character never splits a value. VRs whose value is one text (LT, ST,
    /// UT, UR) give one value.
    public func decodeValues(_ bytes: some Collection<UInt8>, vr: VR) throws(CharacterSetError) -> [String] {
        let text = try decode(bytes, vr: vr)
        return vr.isSingleValuedText ? [text] : Self.splitValues(text)
    }

    // MARK: Encoding

    /// Encodes a string for this character set. In multi-valued VRs `\`
    /// separates values; in PN, `^` and `=` separate components and groups.
    /// For ISO 2022 sets the escape sequences needed are written, returning to
    /// the initial designation before `^` and `=` (PN), `\` (multi-valued
    /// VRs), CR, LF, FF, TAB, and at the end of the value. No padding is added.
    ///
    /// - Throws: ``CharacterSetError/unencodable(character:terms:)`` for the
    ///   first character the set cannot represent (ESC is never encodable).
    public func encode(_ text: String, vr: VR) throws(CharacterSetError) -> [UInt8] {
        let terms = vr.usesSpecificCharacterSet ? canonicalTermsForErrors : ["ISO_IR 6"]
        return try CharsetEncoder.encode(text, repertoire: repertoire(for: vr), vr: vr, terms: terms)
    }

    /// Encodes several values, joined with `\` (which must not occur in them
    /// for multi-valued VRs).
    public func encode(values: [String], vr: VR) throws(CharacterSetError) -> [UInt8] {
        try encode(values.joined(separator: "\\"), vr: vr)
    }

    /// Whether every character of `text` can be encoded in this set
    /// (delimiters aside).
    public func canRepresent(_ text: String) -> Bool {
        CharsetEncoder.canRepresent(text, repertoire: repertoire)
    }

    // MARK: Choosing a set

    /// The smallest conventional character set that can represent all the
    /// texts. The rule, in order:
    ///
    /// 1. only ASCII → ``default`` (ISO_IR 6);
    /// 2. only ISO 8859-1 (Latin-1) → `ISO_IR 100`;
    /// 3. only ASCII and JIS X 0208 (kanji, kana, full-width forms) →
    ///    `\ISO 2022 IR 87` (PS3.5 H.3.1);
    /// 4. also half-width katakana (JIS X 0201) → `ISO 2022 IR 13\ISO 2022 IR 87`
    ///    (H.3.2);
    /// 5. anything else (including Latin-1 mixed with Japanese, Korean, Chinese
    ///    outside JIS X 0208, Greek, Cyrillic, emoji, `𠮷`) → `ISO_IR 192` (UTF-8).
    ///
    /// Japan first: no other ISO 2022 combination is chosen automatically.
    public static func suitable(for texts: [String]) -> SpecificCharacterSet {
        for candidate in suitableCandidates where texts.allSatisfy({ candidate.canRepresent($0) }) {
            return candidate
        }
        return utf8
    }

    static let utf8 = try! SpecificCharacterSet(terms: ["ISO_IR 192"])
    private static let suitableCandidates: [SpecificCharacterSet] = [
        .default,
        try! SpecificCharacterSet(terms: ["ISO_IR 100"]),
        try! SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"]),
        try! SpecificCharacterSet(terms: ["ISO 2022 IR 13", "ISO 2022 IR 87"]),
    ]

    // MARK: Helpers

    private var canonicalTermsForErrors: [String] {
        canonicalTerms.isEmpty ? ["ISO_IR 6"] : canonicalTerms
    }

    private func repertoire(for vr: VR) -> CharsetRepertoire {
        vr.usesSpecificCharacterSet ? repertoire : .asciiOnly
    }

    static func withBuffer<R>(_ bytes: some Collection<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = bytes.withContiguousStorageIfAvailable(body) { return result }
        return Array(bytes).withUnsafeBufferPointer(body)
    }

    /// Splits decoded text on `\` (at the scalar level, so a combining mark
    /// after `\` does not hide it).
    static func splitValues(_ text: String) -> [String] {
        text.unicodeScalars.split(separator: "\\", omittingEmptySubsequences: false).map { String($0) }
    }
}

/// Errors of character set handling. Byte offsets count from the start of the
/// bytes passed in.
public enum CharacterSetError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A value of (0008,0005) that is not a defined term.
    case unknownTerm(String)
    /// Terms that cannot be combined: ISO_IR 192, GB18030 and GBK allow no
    /// other value.
    case invalidCombination([String])
    /// The byte at `byteOffset` (the first of a malformed or unassigned
    /// multi-byte character) is not a character of `term`, the code element in
    /// effect there.
    case undecodable(byteOffset: Int, term: String)
    /// An ESC at `byteOffset` starts no escape sequence DICOM defines.
    case invalidEscapeSequence(byteOffset: Int)
    /// `character` cannot be represented in the character set `terms`.
    case unencodable(character: Character, terms: [String])

    public var description: String {
        switch self {
        case .unknownTerm(let term):
            return "unknown Specific Character Set term \"\(term)\""
        case .invalidCombination(let terms):
            let joined = terms.joined(separator: "\\")
            return "Specific Character Set \"\(joined)\": ISO_IR 192, GB18030 and GBK cannot be combined with other terms"
        case .undecodable(let offset, let term):
            return "byte offset \(offset): not a character of \(term)"
        case .invalidEscapeSequence(let offset):
            return "byte offset \(offset): unsupported escape sequence"
        case .unencodable(let character, let terms):
            let scalars = character.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true).leftPadded(to: 4) }
            let termText = terms.joined(separator: "\\")
            let codes = scalars.joined(separator: " ")
            return "\"\(character)\" (\(codes)) cannot be encoded in \(termText.isEmpty ? "ISO_IR 6" : termText)"
        }
    }
}

extension String {
    /// Zeros in front up to `width` characters (hex code points in messages).
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

// MARK: - Terms

/// What one defined term declares.
enum CharsetTermDefinition: Hashable, Sendable {
    /// ISO_IR nnn (`extensions` false) or ISO 2022 IR nnn (true): G0 and an
    /// optional G1.
    case singleByte(g0: G0Element, g1: G1Element?, extensions: Bool)
    /// ISO 2022 IR 87 / 159.
    case multiByteG0(G0Element)
    /// ISO 2022 IR 149 / 58.
    case multiByteG1(G1Element)
    /// ISO_IR 192, GB18030, GBK.
    case standalone(CharsetRepertoire.Kind)

    /// Defined terms → definitions.
    static let table: [String: CharsetTermDefinition] = {
        var table: [String: CharsetTermDefinition] = [
            "ISO_IR 6": .singleByte(g0: .ascii, g1: nil, extensions: false),
            "ISO 2022 IR 6": .singleByte(g0: .ascii, g1: nil, extensions: true),
            "ISO_IR 13": .singleByte(g0: .jisRoman, g1: .katakana, extensions: false),
            "ISO 2022 IR 13": .singleByte(g0: .jisRoman, g1: .katakana, extensions: true),
            "ISO 2022 IR 87": .multiByteG0(.jisX0208),
            "ISO 2022 IR 159": .multiByteG0(.jisX0212),
            "ISO 2022 IR 149": .multiByteG1(.ksX1001),
            "ISO 2022 IR 58": .multiByteG1(.gb2312),
            "ISO_IR 192": .standalone(.utf8),
            "GB18030": .standalone(.gb18030),
            "GBK": .standalone(.gbk),
        ]
        for set in SingleByteSet.allCases {
            table["ISO_IR \(set.irNumber)"] = .singleByte(g0: .ascii, g1: .singleByte(set), extensions: false)
            table["ISO 2022 IR \(set.irNumber)"] = .singleByte(g0: .ascii, g1: .singleByte(set), extensions: true)
        }
        return table
    }()

    /// Lenient spellings: keys are upper-cased with spaces, `_` and `-`
    /// removed.
    static let aliases: [String: String] = {
        var aliases: [String: String] = [:]
        for term in table.keys { aliases[key(term)] = term }
        let extra: [String: String] = [
            "ISOIR87": "ISO 2022 IR 87", "ISOIR159": "ISO 2022 IR 159",
            "ISOIR149": "ISO 2022 IR 149", "ISOIR58": "ISO 2022 IR 58",
            "ISO2022IR192": "ISO_IR 192", "UTF8": "ISO_IR 192",
            "ASCII": "ISO_IR 6", "USASCII": "ISO_IR 6", "ISO646": "ISO_IR 6",
            "LATIN1": "ISO_IR 100", "LATIN2": "ISO_IR 101", "LATIN3": "ISO_IR 109",
            "LATIN4": "ISO_IR 110", "LATIN5": "ISO_IR 148", "LATIN9": "ISO_IR 203",
            "GB2312": "ISO 2022 IR 58", "EUCCN": "ISO 2022 IR 58",
            "EUCKR": "ISO 2022 IR 149", "KSC5601": "ISO 2022 IR 149", "KSX1001": "ISO 2022 IR 149",
            "TIS620": "ISO_IR 166", "JISX0201": "ISO_IR 13",
        ]
        aliases.merge(extra) { current, _ in current }
        for set in SingleByteSet.allCases {
            let part = set.iconvName.dropFirst("ISO-8859-".count)
            aliases["ISO8859\(part)"] = "ISO_IR \(set.irNumber)"
        }
        return aliases
    }()

    static func key(_ term: String) -> String {
        String(term.uppercased().unicodeScalars.filter { $0 != " " && $0 != "_" && $0 != "-" })
    }
}

/// What a set of terms allows: its kind, initial designations, and the code
/// elements available for encoding.
struct CharsetRepertoire: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        /// ISO 2022 code elements (also the default and the single-byte sets).
        case iso2022
        /// ASCII only, no escape sequences: VRs that do not use the specific
        /// character set.
        case ascii
        case utf8, gb18030, gbk
    }

    var kind: Kind
    var initialG0: G0Element = .ascii
    var initialG1: G1Element? = nil
    /// Whether escape sequences may be written (code extensions declared).
    var extensions = false
    /// Code elements available to the encoder, in preference order (value 1
    /// first, then the declared order). Does not list ASCII.
    var elements: [ISO2022CodeElement] = []

    static let defaultRepertoire = CharsetRepertoire(kind: .iso2022)
    /// For VRs that do not use the specific character set.
    static let asciiOnly = CharsetRepertoire(kind: .ascii)

    var isDefault: Bool {
        kind == .iso2022 && initialG0 == .ascii && initialG1 == nil && elements.isEmpty
    }

    /// The defined term naming a code element, for error messages.
    func term(for element: ISO2022CodeElement?) -> String {
        switch kind {
        case .utf8: return "ISO_IR 192"
        case .gb18030: return "GB18030"
        case .gbk: return "GBK"
        case .ascii: return "ISO_IR 6"
        case .iso2022: break
        }
        let number: Int
        switch element {
        case .g0(let set)?: number = set.irNumber
        case .g1(let set)?: number = set.irNumber
        case nil: number = 6
        }
        if number == 87 || number == 159 || number == 149 || number == 58 { return "ISO 2022 IR \(number)" }
        return extensions ? "ISO 2022 IR \(number)" : "ISO_IR \(number)"
    }
}

/// The result of reading the values of (0008,0005).
struct ParsedTerms {
    var given: [String]
    var canonical: [String]
    var unknown: [String]
    var repertoire: CharsetRepertoire

    static let defaultParsed = ParsedTerms(given: [], canonical: [], unknown: [], repertoire: .defaultRepertoire)

    init(given: [String], canonical: [String], unknown: [String], repertoire: CharsetRepertoire) {
        self.given = given
        self.canonical = canonical
        self.unknown = unknown
        self.repertoire = repertoire
    }

    init(_ values: [String], lenient: Bool) throws(CharacterSetError) {
        let given = values.map { Self.trimmed($0) }
        self.given = given
        unknown = []
        canonical = []
        repertoire = .defaultRepertoire

        // Resolve each value to a defined term (nil: empty or unknown).
        var resolved: [String?] = []
        for value in given {
            if value.isEmpty {
                resolved.append(nil)
                continue
            }
            if CharsetTermDefinition.table[value] != nil {
                resolved.append(value)
            } else if lenient, let term = CharsetTermDefinition.aliases[CharsetTermDefinition.key(value)] {
                resolved.append(term)
            } else if lenient {
                unknown.append(value)
                resolved.append(nil)
            } else {
                throw .unknownTerm(value)
            }
        }
        let multiValued = given.count > 1

        // Stand-alone sets allow nothing else.
        if let standaloneIndex = resolved.firstIndex(where: {
            if let term = $0, case .standalone = CharsetTermDefinition.table[term]! { return true }
            return false
        }) {
            let others = given.indices.filter { $0 != standaloneIndex && !given[$0].isEmpty }
            if !others.isEmpty {
                guard lenient else { throw .invalidCombination(given) }
                for index in others where resolved[index] != nil { unknown.append(given[index]) }
            }
            let term = resolved[standaloneIndex]!
            guard case .standalone(let kind) = CharsetTermDefinition.table[term]! else { fatalError("unreachable") }
            canonical = [term]
            repertoire = CharsetRepertoire(kind: kind)
            return
        }

        if resolved.allSatisfy({ $0 == nil }) {
            return  // default
        }

        // With several values, ISO_IR nnn means ISO 2022 IR nnn.
        var terms: [String] = resolved.map { $0 ?? "" }
        if multiValued {
            terms = terms.map { $0.hasPrefix("ISO_IR ") ? "ISO 2022 IR " + $0.dropFirst("ISO_IR ".count) : $0 }
        }

        var repertoire = CharsetRepertoire(kind: .iso2022)
        var elements: [ISO2022CodeElement] = []
        func add(_ element: ISO2022CodeElement) {
            if !elements.contains(element) { elements.append(element) }
        }
        for (index, term) in terms.enumerated() where !term.isEmpty {
            switch CharsetTermDefinition.table[term]! {
            case .singleByte(let g0, let g1, let extensions):
                if index == 0 {
                    repertoire.initialG0 = g0
                    repertoire.initialG1 = g1
                }
                if extensions { repertoire.extensions = true }
                if g0 != .ascii { add(.g0(g0)) }
                if let g1 { add(.g1(g1)) }
            case .multiByteG0(let g0):
                repertoire.extensions = true
                add(.g0(g0))
            case .multiByteG1(let g1):
                repertoire.extensions = true
                if index == 0 { repertoire.initialG1 = g1 }
                add(.g1(g1))
            case .standalone:
                fatalError("unreachable")
            }
        }
        if multiValued { repertoire.extensions = true }
        repertoire.elements = elements
        self.repertoire = repertoire

        // Canonical spelling: "" for an ISO 2022 IR 6 value 1 among several;
        // [] for the default repertoire alone.
        if terms.count == 1, terms[0] == "ISO_IR 6" {
            canonical = []
        } else {
            if multiValued, terms[0] == "ISO 2022 IR 6" { terms[0] = "" }
            // Drop unknown (now empty) values after value 1.
            canonical = [terms[0]] + terms.dropFirst().filter { !$0.isEmpty }
            if canonical.count == 1, canonical[0].isEmpty { canonical = [] }
        }
    }

    static func trimmed(_ value: String) -> String {
        var scalars = Substring(value).unicodeScalars
        while let first = scalars.first, first == " " || first == "\0" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\0" { scalars.removeLast() }
        return String(scalars)
    }
}
