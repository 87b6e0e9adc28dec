import Reconcile
import Testing

@Suite("Name normalisation")
struct NameNormalizerTests {
    @Test("width, case, spaces and ^ placement give one key", arguments: [
        "YAMADA^TARO", "Yamada Taro", "YAMADA^TARO^^^", "yamada^taro", "ＹＡＭＡＤＡ^ＴＡＲＯ", "YAMADA,  TARO",
        "Yamada　Taro", " YAMADA ^ TARO ", "Yamada^Taro^^Mr", "Yamada^Taro^^^Jr",
    ])
    func separatorsAndWidth(_ written: String) {
        #expect(NameNormalizer.key(written) == "yamada taro")
    }

    @Test("romaji long vowels: SATOU = SATO = SATOH = SATŌ = SATÔ = SATOO", arguments: [
        "SATOU", "SATO", "SATOH", "SATŌ", "SATÔ", "SATOO", "Satō", "ｓａｔｏｕ",
    ])
    func longVowelO(_ written: String) {
        #expect(NameNormalizer.key(written) == "sato")
    }

    @Test("more romaji variants")
    func romajiVariants() {
        #expect(NameNormalizer.key("YAMADA^TAROU") == NameNormalizer.key("Yamada^Taro"))
        #expect(NameNormalizer.key("Yuuko") == NameNormalizer.key("Yūko"))
        #expect(NameNormalizer.key("OHNO") == NameNormalizer.key("ONO"))
        #expect(NameNormalizer.key("OOTA") == NameNormalizer.key("Ōta"))
        #expect(NameNormalizer.key("HOMMA") == NameNormalizer.key("HONMA"))
        #expect(NameNormalizer.key("NAMBA") == NameNormalizer.key("NANBA"))
        #expect(NameNormalizer.key("Shin'ichi") == NameNormalizer.key("SHINICHI"))
        // Kunrei-shiki spellings meet Hepburn ones.
        #expect(NameNormalizer.key("SATOU^TUTOMU") == NameNormalizer.key("Sato^Tsutomu"))
        #expect(NameNormalizer.key("HUKUDA^SIZUKO") == NameNormalizer.key("Fukuda^Shizuko"))
        #expect(NameNormalizer.key("ZYUNKO") == NameNormalizer.key("JUNKO"))
        #expect(NameNormalizer.key("TIAKI") == NameNormalizer.key("CHIAKI"))
        #expect(NameNormalizer.key("SYUUZI") == NameNormalizer.key("SHUJI"))
        // A vowel after `ou` / `oh` is its own syllable: kept.
        #expect(NameNormalizer.key("INOUE") == "inoue")
        #expect(NameNormalizer.key("OHASHI") == "ohashi")
        #expect(NameNormalizer.key("OHASHI") != NameNormalizer.key("OASHI"))
        // `shu`, `chu` are not `hu`.
        #expect(NameNormalizer.key("SHUICHI") == "shuichi")
    }

    @Test("kana: katakana = hiragana = half-width katakana")
    func kana() {
        let expected = "やまだ たろう"
        #expect(NameNormalizer.key("やまだ^たろう") == expected)
        #expect(NameNormalizer.key("ヤマダ^タロウ") == expected)
        #expect(NameNormalizer.key("ﾔﾏﾀﾞ^ﾀﾛｳ") == expected)
        #expect(NameNormalizer.key("ヤマダ　タロウ") == expected)
        // Voiced and semi-voiced marks are kept: だ is not た.
        #expect(NameNormalizer.key("ﾊﾟﾊﾟ") == "ぱぱ")
        #expect(NameNormalizer.key("ﾔﾏﾀ^ﾀﾛｳ") != expected)
    }

    @Test("kanji and hangul pass through; scripts are told apart")
    func scripts() {
        #expect(NameNormalizer.key("山田^太郎") == "山田 太郎")
        #expect(NameNormalizer.key("홍^길동") == "홍 길동")
        #expect(NameNormalizer.script(of: NameNormalizer.key("Yamada^Tarou")) == .latin)
        #expect(NameNormalizer.script(of: NameNormalizer.key("ﾔﾏﾀﾞ^ﾀﾛｳ")) == .kana)
        #expect(NameNormalizer.script(of: NameNormalizer.key("山田^太郎")) == .other)
        #expect(NameNormalizer.script(of: NameNormalizer.key("???^???")) == .none)
    }

    @Test("comparisons")
    func comparisons() {
        #expect(NameNormalizer.compare("YAMADA^TAROU", "Yamada^Taro") == .equal)
        #expect(NameNormalizer.compare("山田太郎", "山田^太郎") == .equalApartFromWordBreaks)
        #expect(NameNormalizer.compare("髙橋^一郎", "高橋^一郎") == .equalApartFromKanjiVariants)
        #expect(NameNormalizer.compare("Yamada^Taro", "山田^太郎") == .differentScripts)
        // German spellings: ß is ss as capitals write it; a spelled-out
        // umlaut (or dropped dots) is only similar: `ue` is two letters in Manuel.
        #expect(NameNormalizer.compare("Straße^Hans", "STRASSE^HANS") == .equal)
        #expect(NameNormalizer.compare("Müller^Jürgen", "Mueller^Juergen") == .equalApartFromSpelledOutUmlauts)
        #expect(NameNormalizer.compare("MUELLER^JUERGEN", "Muller^Jurgen") == .equalApartFromSpelledOutUmlauts)
        #expect(NameNormalizer.compare("Göthe", "Goethe") == .equalApartFromSpelledOutUmlauts)
        if case .equalApartFromSpelledOutUmlauts = NameNormalizer.compare("Müller^Hans", "Mahler^Hans") {
            Issue.record("Müller is not Mahler")
        }
        #expect(NameNormalizer.compare("", "山田^太郎") == .empty)
        guard case .different(let similarity, let sameFamily) = NameNormalizer.compare("YAMADA^JIRO", "Yamada^Taro") else {
            Issue.record("expected different")
            return
        }
        #expect(sameFamily)
        #expect(similarity > 0.5 && similarity < 1)
    }

    @Test("placeholders are weak wildcards, never equality")
    func placeholders() {
        #expect(NameNormalizer.hasPlaceholders("???^???"))
        #expect(NameNormalizer.hasPlaceholders("山田^＊＊"))
        #expect(!NameNormalizer.hasPlaceholders("山田^太郎"))
        // Only placeholders: nothing to compare, whatever the other side.
        #expect(NameNormalizer.compare("???^???", "山田^太郎") == .onlyPlaceholders)
        #expect(NameNormalizer.compare("****", "Yamada^Taro") == .onlyPlaceholders)
        #expect(NameNormalizer.compare("？？", "？？") == .onlyPlaceholders)
        // One or two placeholders per missing character both fit.
        #expect(NameNormalizer.compare("山田^??", "山田^太郎") == .consistentWithPlaceholders)
        #expect(NameNormalizer.compare("山田^????", "山田^太郎") == .consistentWithPlaceholders)
        #expect(NameNormalizer.compare("山?^太郎", "山田^太郎") == .consistentWithPlaceholders)
        #expect(NameNormalizer.compare("やまだ^たろう", "やま?^??") == .consistentWithPlaceholders)
        #expect(NameNormalizer.compare("山田^\u{FFFD}郎", "山田^太郎") == .consistentWithPlaceholders)
        // A placeholder stands for characters of one word only, and the
        // characters around it must agree.
        #expect(NameNormalizer.compare("??", "山田^太郎") != .consistentWithPlaceholders)
        #expect(NameNormalizer.compare("佐藤^??", "山田^太郎") != .consistentWithPlaceholders)
        #expect(NameNormalizer.compare("山田^??", "山田^太郎") != .equal)
        // Odd input does not crash.
        for odd in ["?", "^", "=", "^^^^^^^^", "??^", "\u{FFFD}", "ﾞ", "\u{3099}", "a\u{301}", String(repeating: "?", count: 200)] {
            _ = NameNormalizer.key(odd)
            _ = NameNormalizer.compare(odd, "山田^太郎")
            _ = NameNormalizer.compare("Yamada^Taro", odd)
        }
    }
}
