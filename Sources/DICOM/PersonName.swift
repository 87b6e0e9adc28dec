// Person Name (PN) values: PS3.5 §6.2.1.

/// One Person Name value (decoded text): up to three component groups —
/// alphabetic, ideographic, phonetic — separated by `=`, each of up to five
/// components — family, given, middle, prefix, suffix — separated by `^`.
///
/// Decode the bytes with ``SpecificCharacterSet/decode(_:vr:)`` first (each
/// group may use its own escape sequences there); this type only splits and
/// joins the text. Several values (`\`) are several `PersonName`s; see
/// ``SpecificCharacterSet/decodeValues(_:vr:)``.
///
/// Groups and components are kept as they are, including `?` placeholders
/// written by systems that could not convert a character (`???^???` stays).
public struct PersonName: Sendable, Hashable, CustomStringConvertible {
    /// The three component groups of PS3.5 §6.2.1.2.
    public enum Group: Int, Sendable, Hashable, CaseIterable {
        case alphabetic, ideographic, phonetic
    }

    /// The five components of one group.
    public struct Components: Sendable, Hashable {
        public var family: String
        public var given: String
        public var middle: String
        public var prefix: String
        public var suffix: String

        public init(family: String = "", given: String = "", middle: String = "", prefix: String = "", suffix: String = "") {
            self.family = family
            self.given = given
            self.middle = middle
            self.prefix = prefix
            self.suffix = suffix
        }

        /// Splits one group at `^`. More than five components (invalid) are
        /// kept, joined with `^`, in `suffix`, so nothing is lost.
        public init(_ groupForm: String) {
            var parts = PersonName.split(groupForm, at: "^")
            if parts.count > 5 {
                let rest = parts[4...].joined(separator: "^")
                parts = Array(parts[0..<4]) + [rest]
            }
            while parts.count < 5 { parts.append("") }
            self.init(family: parts[0], given: parts[1], middle: parts[2], prefix: parts[3], suffix: parts[4])
        }

        /// The group as written: components joined with `^`, trailing empty
        /// components dropped.
        public var groupForm: String {
            var parts = [family, given, middle, prefix, suffix]
            while let last = parts.last, last.isEmpty { parts.removeLast() }
            return parts.joined(separator: "^")
        }

        public var isEmpty: Bool { groupForm.isEmpty }
    }

    public var alphabetic: String
    public var ideographic: String
    public var phonetic: String

    public init(alphabetic: String = "", ideographic: String = "", phonetic: String = "") {
        self.alphabetic = alphabetic
        self.ideographic = ideographic
        self.phonetic = phonetic
    }

    /// Splits a decoded PN value (`A=I=P`) into its groups. Trailing spaces
    /// and NULs (padding) are removed first. More than three groups (invalid)
    /// are kept, joined with `=`, in `phonetic`.
    public init(_ dicomForm: String) {
        var scalars = Substring(dicomForm).unicodeScalars
        while let last = scalars.last, last == " " || last == "\0" { scalars.removeLast() }
        var groups = PersonName.split(String(scalars), at: "=")
        if groups.count > 3 {
            let rest = groups[2...].joined(separator: "=")
            groups = Array(groups[0..<2]) + [rest]
        }
        while groups.count < 3 { groups.append("") }
        self.init(alphabetic: groups[0], ideographic: groups[1], phonetic: groups[2])
    }

    /// The value as written: `A=I=P`, trailing empty components of each group
    /// and trailing empty groups dropped (`Wang^XiaoDong=王^小東=` gives
    /// `Wang^XiaoDong=王^小東`).
    public var dicomForm: String {
        var groups = [alphabetic, ideographic, phonetic].map { Components($0).groupForm }
        while let last = groups.last, last.isEmpty { groups.removeLast() }
        return groups.joined(separator: "=")
    }

    public var description: String { dicomForm }

    /// True when every group is empty.
    public var isEmpty: Bool { dicomForm.isEmpty }

    /// The name with the half-width katakana of its ideographic and phonetic
    /// groups written full-width, voiced sound marks composed (`ｶﾄｳ^ﾐｷ` →
    /// `カトウ^ミキ`, `ﾀﾞ` → `ダ`): Japanese practice (IHE-J) writes no
    /// half-width kana in DICOM names, while clinic systems often keep kana
    /// names that way. The alphabetic group is left as it is (PS3.5 H.3.2
    /// puts half-width katakana there, under ISO 2022 IR 13).
    public var withFullWidthKatakana: PersonName {
        PersonName(alphabetic: alphabetic, ideographic: PersonName.fullWidthKatakana(ideographic),
                   phonetic: PersonName.fullWidthKatakana(phonetic))
    }

    /// `text` with every run of half-width katakana and its punctuation
    /// (U+FF61–U+FF9F) in its compatibility form (NFKC), nothing else changed.
    static func fullWidthKatakana(_ text: String) -> String {
        let isHalfWidth = { (scalar: Unicode.Scalar) in (0xFF61...0xFF9F).contains(scalar.value) }
        guard text.unicodeScalars.contains(where: isHalfWidth) else { return text }
        var result = "", run = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isHalfWidth(scalar) {
                run.append(scalar)
                continue
            }
            result += String(run).precomposedStringWithCompatibilityMapping
            run.removeAll()
            result.unicodeScalars.append(scalar)
        }
        return result + String(run).precomposedStringWithCompatibilityMapping
    }

    /// A group's text.
    public subscript(group: Group) -> String {
        get {
            switch group {
            case .alphabetic: return alphabetic
            case .ideographic: return ideographic
            case .phonetic: return phonetic
            }
        }
        set {
            switch group {
            case .alphabetic: alphabetic = newValue
            case .ideographic: ideographic = newValue
            case .phonetic: phonetic = newValue
            }
        }
    }

    /// A group's components: `name[components: .ideographic].family`.
    public subscript(components group: Group) -> Components {
        get { Components(self[group]) }
        set { self[group] = newValue.groupForm }
    }

    /// The components of the three groups, in order.
    public var components: [Components] {
        Group.allCases.map { self[components: $0] }
    }

    /// Splits at a delimiter scalar (not at a `Character`, so a combining
    /// mark after the delimiter cannot hide it).
    static func split(_ text: String, at delimiter: Unicode.Scalar) -> [String] {
        text.unicodeScalars.split(separator: delimiter, omittingEmptySubsequences: false).map { String($0) }
    }
}
