import DICOM
import Foundation

/// Comparison keys for patient names, so that the same name written by two
/// systems compares equal.
///
/// A key is made from one Person Name component group (`Family^Given^Middle`
/// — the prefix and suffix components are left out, so `Dr`, `Jr` and empty
/// trailing components do not matter). The steps, in order:
///
/// 1. Compatibility normalisation (NFKC): full-width Latin letters and
///    digits become ASCII (`ＹＡＭＡＤＡ` → `YAMADA`), half-width katakana
///    become full-width with their voiced marks composed (`ﾔﾏﾀﾞ` → `ヤマダ`),
///    the ideographic space becomes a space, `？` and `＊` become `?` and `*`.
/// 2. Katakana become hiragana (`ヤマダ` → `やまだ`; the long-vowel mark `ー`
///    is kept), so the phonetic group compares in either kana.
/// 3. Case folding, and Latin letters lose their diacritics (`Ō` `Ô` → `o`,
///    `é` → `e`); `ß` is `ss`, as in capitals (`Straße` = `STRASSE`).
/// 4. Word breaks: `^`, spaces, `,`, `、`, `・` and `-` all separate words and
///    only the sequence of words is kept, so `YAMADA^TARO`, `Yamada Taro`,
///    `YAMADA^TARO^^^` and `YAMADA, TARO` give the same key. `'` and `.` are
///    dropped (`Shin'ichi` = `Shinichi`).
/// 5. Romaji spelling variants, in words of Latin letters only:
///    - Kunrei/Nihon-shiki syllables are spelled as in Hepburn (`si` → `shi`,
///      `ti` → `chi`, `tu` → `tsu`, `hu` → `fu`, `zi` `di` → `ji`, `du` → `zu`,
///      `sy`/`ty`/`zy`/`dy` + vowel → `sh`/`ch`/`j`/`j` + vowel);
///    - `m` before `b`, `m`, `p` is `n` (`HOMMA` = `HONMA`, `NAMBA` = `NANBA`);
///    - long vowels are written short: `oo` → `o`, `uu` → `u`, `ou` → `o` and
///      `oh` → `o` unless a vowel follows (so `INOUE` and `OHASHI` keep their
///      syllables) — `SATOU` = `SATO` = `SATOH` = `SATŌ` = `SATÔ`, and
///      `YAMADA^TAROU` = `Yamada^Taro`.
/// 6. Placeholders: `?`, `*` and U+FFFD (written or decoded where a system
///    could not encode a character) all become `?`. A key with placeholders
///    is never *equal* to a key without: ``compare(_:_:)`` treats each run of
///    them as a wildcard for one or more characters of a word, which is weak
///    evidence only (``Comparison/consistentWithPlaceholders``), and a group
///    made only of placeholders carries no evidence at all
///    (``Comparison/onlyPlaceholders``).
///
/// The keys are meant for comparison (and for indexing a registry), not for
/// display: show the names as they were written.
///
/// Deliberately not folded (they may name different people, or need a
/// dictionary): kanji variants (`髙`/`高`, `﨑`/`崎`, `邊`/`辺` …) only make a
/// *similar* result (``Comparison/equalApartFromKanjiVariants``), never an
/// equal one; German umlauts spelled out (`Mueller` for `Müller`) only make
/// a similar result too (``Comparison/equalApartFromSpelledOutUmlauts``:
/// `ue` may be a spelled-out `ü` or two letters, as in `Manuel`); kana long-vowel spellings (`たろう` vs `たろー`) and kana vs
/// romaji (no transliteration) are not compared.
public enum NameNormalizer {
    /// The comparison key of one component group (`Family^Given^Middle^…`):
    /// its words, normalised as described above, joined by single spaces.
    /// Empty when the group has no name in it.
    ///
    /// ```swift
    /// NameNormalizer.key("YAMADA^TAROU")   // "yamada taro"
    /// NameNormalizer.key("ﾔﾏﾀﾞ^ﾀﾛｳ")       // "やまだ たろう"
    /// NameNormalizer.key("Satoh Ichiroh^^^") // "sato ichiro"
    /// ```
    public static func key(_ group: String) -> String {
        words(of: group).joined(separator: " ")
    }

    /// The normalised words of one component group; see ``key(_:)``.
    public static func words(of group: String) -> [String] {
        let parts = PersonName.Components(group)
        let text = [parts.family, parts.given, parts.middle].joined(separator: " ")
        return words(ofText: text)
    }

    /// The normalised words of free text (no component structure: every `^`
    /// is a word break, nothing is left out).
    public static func words(ofText text: String) -> [String] {
        let folded = text.precomposedStringWithCompatibilityMapping.lowercased()
        var scalars = String.UnicodeScalarView()
        for scalar in folded.unicodeScalars {
            switch scalar.value {
            case 0x30A1...0x30F6, 0x30FD, 0x30FE:   // katakana → hiragana
                scalars.append(Unicode.Scalar(scalar.value - 0x60)!)
            case 0x20, 0x09, 0x0A, 0x0D, 0x5E /* ^ */, 0x2C /* , */, 0x3001 /* 、 */,
                 0x30FB /* ・ */, 0x2D /* - */, 0x3000:
                scalars.append(" ")
            case 0x27 /* ' */, 0x2019 /* ’ */, 0x2E /* . */:
                continue
            case 0x3F /* ? */, 0x2A /* * */, 0xFFFD:
                scalars.append(placeholder)
            case 0x00DF, 0x1E9E:   // ß, ẞ: "ss", as capitals write it
                scalars.append("s")
                scalars.append("s")
            case 0x00C0...0x024F, 0x1E00...0x1EFF:   // Latin letters with diacritics
                for part in String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars
                where !(0x0300...0x036F).contains(part.value) {
                    scalars.append(part)
                }
            case 0x0300...0x036F:   // a combining mark left after a Latin letter
                if let last = scalars.last, last.isASCII { continue }
                scalars.append(scalar)
            default:
                scalars.append(scalar)
            }
        }
        return String(scalars).split(separator: " ").map { word in
            let word = String(word)
            return isRomaji(word) ? romaji(word) : word
        }
    }

    /// True when `text` contains a placeholder (`?`, `*`, `＊`, `？`, U+FFFD).
    public static func hasPlaceholders(_ text: String) -> Bool {
        text.unicodeScalars.contains { [0x3F, 0x2A, 0xFF0A, 0xFF1F, 0xFFFD].contains($0.value) }
    }

    // MARK: - Comparison

    /// How two names (component groups) compare.
    public enum Comparison: Sendable, Hashable {
        /// The keys are equal.
        case equal
        /// Equal once word breaks are ignored (`山田太郎` vs `山田^太郎`).
        case equalApartFromWordBreaks
        /// Equal once German umlauts written out as `ae`, `oe` and `ue` are
        /// read as the letter (`Mueller^Juergen` vs
        /// `Müller^Jürgen`, or `Muller` where a system dropped the dots) —
        /// only similar: `ue` is two letters in other names.
        case equalApartFromSpelledOutUmlauts
        /// Equal once common kanji variants are folded (`髙橋` vs `高橋`) —
        /// possibly a different registered name, so only similar.
        case equalApartFromKanjiVariants
        /// One side has placeholders, and every other character agrees
        /// (`??^太郎` vs `山田^太郎`). Weak evidence.
        case consistentWithPlaceholders
        /// A side is only placeholders (or both have some): nothing to compare.
        case onlyPlaceholders
        /// Different scripts (kana vs romaji, kanji vs romaji): not comparable.
        case differentScripts
        /// Different. `similarity` is 0…1 (edit distance over the longer
        /// key), `sameFamilyName` whether the first words are equal.
        case different(similarity: Double, sameFamilyName: Bool)
        /// A side is empty.
        case empty
    }

    /// Compares two component groups (in any order; placeholders may be on
    /// either side).
    public static func compare(_ a: String, _ b: String) -> Comparison {
        compareWords(words(of: a), words(of: b))
    }

    static func compareWords(_ a: [String], _ b: [String]) -> Comparison {
        if a.isEmpty || b.isEmpty { return .empty }
        let ka = a.joined(separator: " "), kb = b.joined(separator: " ")
        let aOnly = isOnlyPlaceholders(ka), bOnly = isOnlyPlaceholders(kb)
        if aOnly || bOnly { return .onlyPlaceholders }
        if ka == kb { return .equal }
        if script(of: ka) != script(of: kb) { return .differentScripts }
        let aHas = ka.unicodeScalars.contains(placeholder), bHas = kb.unicodeScalars.contains(placeholder)
        switch (aHas, bHas) {
        case (true, true):
            return .onlyPlaceholders
        case (true, false), (false, true):
            let (pattern, text) = aHas ? (ka, kb) : (kb, ka)
            if matches(pattern: pattern, text: text) { return .consistentWithPlaceholders }
        case (false, false):
            let ca = a.joined(), cb = b.joined()
            if ca == cb { return .equalApartFromWordBreaks }
            if foldingKanjiVariants(ca) == foldingKanjiVariants(cb) { return .equalApartFromKanjiVariants }
            if script(of: ka) == .latin, foldingSpelledOutUmlauts(ca) == foldingSpelledOutUmlauts(cb) {
                return .equalApartFromSpelledOutUmlauts
            }
        }
        let ca = Array(foldingKanjiVariants(a.joined()).unicodeScalars)
        let cb = Array(foldingKanjiVariants(b.joined()).unicodeScalars)
        let distance = editDistance(ca, cb)
        let similarity = 1 - Double(distance) / Double(max(ca.count, cb.count, 1))
        return .different(similarity: max(0, similarity), sameFamilyName: a[0] == b[0] && !a[0].unicodeScalars.contains(placeholder))
    }

    // MARK: - Scripts

    /// The writing a key is in, for deciding which groups can be compared.
    public enum Script: Sendable, Hashable {
        /// Latin letters (romaji, Western names), digits.
        case latin
        /// Hiragana (after folding katakana), with `ー`.
        case kana
        /// Anything else, or a mix: kanji, hangul, kanji with kana.
        case other
        /// Only placeholders and spaces.
        case none
    }

    /// The script of a key (placeholders and spaces are ignored).
    public static func script(of key: String) -> Script {
        var latin = false, kana = false, other = false
        for scalar in key.unicodeScalars where scalar != placeholder && scalar != " " {
            switch scalar.value {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: latin = true
            case 0x3041...0x309F, 0x30FC: kana = true
            default: other = true
            }
        }
        switch (latin, kana, other) {
        case (false, false, false): return .none
        case (true, false, false): return .latin
        case (false, true, false): return .kana
        default: return .other
        }
    }

    // MARK: - Internals

    static let placeholder: Unicode.Scalar = "?"

    static func isOnlyPlaceholders(_ key: String) -> Bool {
        key.unicodeScalars.allSatisfy { $0 == placeholder || $0 == " " }
    }

    static func isRomaji(_ word: String) -> Bool {
        word.unicodeScalars.allSatisfy { ($0.value >= 0x61 && $0.value <= 0x7A) || $0 == placeholder }
    }

    static let vowels: Set<Character> = ["a", "e", "i", "o", "u"]

    /// Kunrei → Hepburn, `m` before a labial → `n`, long vowels short.
    static func romaji(_ word: String) -> String {
        let c = Array(word)
        var out: [Character] = []
        out.reserveCapacity(c.count + 4)
        var i = 0
        func at(_ k: Int) -> Character? { k < c.count ? c[k] : nil }
        while i < c.count {
            let ch = c[i], next = at(i + 1)
            switch (ch, next) {
            case ("s", "y") where at(i + 2).map({ "auo".contains($0) }) == true:
                out += ["s", "h"]; i += 2; continue
            case ("t", "y") where at(i + 2).map({ "auo".contains($0) }) == true:
                out += ["c", "h"]; i += 2; continue
            case ("z", "y"), ("d", "y"):
                if at(i + 2).map({ "auo".contains($0) }) == true { out.append("j"); i += 2; continue }
            case ("s", "i"):
                out += ["s", "h", "i"]; i += 2; continue
            case ("t", "i"):
                out += ["c", "h", "i"]; i += 2; continue
            case ("t", "u"):
                out += ["t", "s", "u"]; i += 2; continue
            case ("z", "i"), ("d", "i"):
                out += ["j", "i"]; i += 2; continue
            case ("d", "u"):
                out += ["z", "u"]; i += 2; continue
            case ("h", "u") where i == 0 || !"sc".contains(c[i - 1]):
                out += ["f", "u"]; i += 2; continue
            case ("m", "b"), ("m", "m"), ("m", "p"):
                out.append("n"); i += 1; continue
            default:
                break
            }
            out.append(ch)
            i += 1
        }
        // Long vowels, until nothing changes (`oou` → `ou` → `o`).
        var current = out
        while true {
            var shortened: [Character] = []
            shortened.reserveCapacity(current.count)
            var j = 0
            while j < current.count {
                let ch = current[j]
                let next: Character? = j + 1 < current.count ? current[j + 1] : nil
                let after: Character? = j + 2 < current.count ? current[j + 2] : nil
                let vowelAfter = after.map { vowels.contains($0) } ?? false
                // `oh` before `y` is お + ひゃ/ひゅ/ひょ, not a long vowel.
                if ch == "o", next == "o" || (next == "u" && !vowelAfter) || (next == "h" && !vowelAfter && after != "y") {
                    shortened.append("o"); j += 2; continue
                }
                if ch == "u", next == "u" {
                    shortened.append("u"); j += 2; continue
                }
                shortened.append(ch)
                j += 1
            }
            if shortened == current { break }
            current = shortened
        }
        return String(current)
    }

    /// Common glyph variants of kanji used in names, folded to one form.
    static let kanjiVariants: [Unicode.Scalar: Unicode.Scalar] = [
        "髙": "高", "﨑": "崎", "嵜": "崎", "邊": "辺", "邉": "辺", "齋": "斉", "齊": "斉", "斎": "斉",
        "濱": "浜", "濵": "浜", "澤": "沢", "廣": "広", "櫻": "桜", "國": "国", "眞": "真", "德": "徳",
        "惠": "恵", "榮": "栄", "藏": "蔵", "淺": "浅", "曾": "曽", "𠮷": "吉",
        "瀨": "瀬", "龍": "竜", "實": "実", "壽": "寿", "傳": "伝", "關": "関", "邨": "村",
    ]

    static func foldingKanjiVariants(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { scalars.append(kanjiVariants[scalar] ?? scalar) }
        return String(scalars)
    }

    /// A Latin key with the German spellings of umlauts (`ae`, `oe`, `ue`;
    /// keys already write `ä` `ö` `ü` as `a` `o` `u`) read as the plain letter.
    static func foldingSpelledOutUmlauts(_ text: String) -> String {
        text.replacing("ae", with: "a").replacing("oe", with: "o").replacing("ue", with: "u")
    }

    /// Does `pattern` (with `?` runs standing for one or more characters
    /// other than a space) match all of `text`?
    static func matches(pattern: String, text: String) -> Bool {
        // Collapse runs of placeholders: one wildcard each.
        var p: [Unicode.Scalar] = []
        for scalar in pattern.unicodeScalars where !(scalar == placeholder && p.last == placeholder) {
            p.append(scalar)
        }
        let t = Array(text.unicodeScalars)
        // reachable[j]: pattern prefix consumed so far can end at text index j.
        var reachable = [Bool](repeating: false, count: t.count + 1)
        reachable[0] = true
        for token in p {
            var next = [Bool](repeating: false, count: t.count + 1)
            if token == placeholder {
                for j in 0..<t.count where reachable[j] {
                    var k = j
                    while k < t.count, t[k] != " " {
                        k += 1
                        next[k] = true
                    }
                }
            } else {
                for j in 0..<t.count where reachable[j] && t[j] == token { next[j + 1] = true }
            }
            reachable = next
        }
        return reachable[t.count]
    }

    /// Levenshtein distance (inputs are short: names).
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
