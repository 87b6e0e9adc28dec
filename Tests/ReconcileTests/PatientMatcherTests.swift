import DICOM
import Reconcile
import Testing

/// The PS3.5 Annex H, I and J/K Person Name examples, decoded.
enum AnnexNames {
    /// H.3.1 (ISO 2022 IR 87).
    static let japanese = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    /// H.3.2 (ISO 2022 IR 13\ISO 2022 IR 87): half-width katakana as the
    /// alphabetic group.
    static let japaneseHalfWidth = "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"
    /// I.2 (ISO 2022 IR 149).
    static let korean = "Hong^Gildong=洪^吉洞=홍^길동"
    /// J (GB18030) and K (GB 2312).
    static let chineseTraditional = "Wang^XiaoDong=王^小東="
    static let chineseSimplified = "Wang^XiaoDong=王^小东="
}

@Suite("Patient matching")
struct PatientMatcherTests {
    let matcher = PatientMatcher()

    /// Yamada Taro as the clinic's registry writes him: romaji without the
    /// long vowel, katakana reading.
    let yamada = RegisteredPatient(patientID: "P001", issuer: "CLINIC", alphabetic: "YAMADA^TARO", ideographic: "山田^太郎",
                                   phonetic: "ヤマダ^タロウ", birthDate: "19700401", sex: "M")
    let suzuki = RegisteredPatient(patientID: "P002", issuer: "CLINIC", alphabetic: "SUZUKI^HANAKO", ideographic: "鈴木^花子",
                                   phonetic: "スズキ^ハナコ", birthDate: "19820315", sex: "F")
    let yamadaJiro = RegisteredPatient(patientID: "P003", issuer: "CLINIC", alphabetic: "YAMADA^JIRO", ideographic: "山田^次郎",
                                       phonetic: "ヤマダ^ジロウ", birthDate: "19720810", sex: "M")

    var registry: [RegisteredPatient] { [suzuki, yamadaJiro, yamada] }

    func query(_ name: String?, _ birthDate: String? = "19700401", _ sex: String? = "M") -> PatientQuery {
        PatientQuery(name: name, birthDate: birthDate, sex: sex, foreignPatientID: "H-778", foreignIssuer: "OTHER HOSPITAL")
    }

    func outcome(_ match: PatientMatch, _ field: MatchReason.Field) -> MatchReason.Outcome? {
        match.reason(field)?.outcome
    }

    // MARK: - Annex H, registry written differently

    @Test("H.3.1 all three groups reconcile to a registry entry in other spellings")
    func annexH31() throws {
        let decision = matcher.automatic(query(AnnexNames.japanese), among: registry)
        let match = try #require(decision.accepted)
        #expect(match.candidate.patientID == "P001")
        #expect(match.isExact)
        // Romaji Tarou vs TARO, hiragana vs katakana, kanji as is.
        #expect(outcome(match, .nameAlphabetic) == .match)
        #expect(outcome(match, .nameIdeographic) == .match)
        #expect(outcome(match, .namePhonetic) == .match)
        #expect(match.reason(.nameIdeographic)?.detail == "name ideographic 山田^太郎 matches")
        #expect(match.reason(.nameAlphabetic)?.detail == "name alphabetic Yamada^Tarou matches YAMADA^TARO")
        #expect(match.reason(.birthDate)?.detail == "birth date 1970-04-01 matches")
        #expect(match.reason(.sex)?.detail == "sex M matches")
        #expect(match.conflicts.isEmpty)
    }

    @Test("H.3.2: half-width katakana alphabetic group meets the registry's kana reading")
    func annexH32() throws {
        let match = try #require(matcher.automatic(query(AnnexNames.japaneseHalfWidth), among: registry).accepted)
        #expect(match.candidate.patientID == "P001")
        let alphabetic = try #require(match.reason(.nameAlphabetic))
        #expect(alphabetic.outcome == .match)
        #expect(alphabetic.detail == "name alphabetic ﾔﾏﾀﾞ^ﾀﾛｳ matches phonetic ヤマダ^タロウ")
        // Without a kana group in the registry it is not comparable, not a conflict.
        var romajiOnly = yamada
        romajiOnly.phonetic = nil
        let other = try #require(matcher.automatic(query(AnnexNames.japaneseHalfWidth), among: [romajiOnly]).accepted)
        #expect(outcome(other, .nameAlphabetic) == .missing)
        #expect(outcome(other, .nameIdeographic) == .match)
    }

    @Test("each group alone is enough, against entries written differently", arguments: [
        // (disc name, registry entry groups)
        ("=山田^太郎", RegisteredPatient(patientID: "X", ideographic: "山田^太郎", birthDate: "19700401")),
        ("=山田^太郎", RegisteredPatient(patientID: "X", ideographic: "山田　太郎", birthDate: "19700401")),
        ("==やまだ^たろう", RegisteredPatient(patientID: "X", phonetic: "ヤマダ^タロウ", birthDate: "19700401")),
        ("==やまだ^たろう", RegisteredPatient(patientID: "X", phonetic: "ﾔﾏﾀﾞ^ﾀﾛｳ", birthDate: "19700401")),
        ("==ﾔﾏﾀﾞ^ﾀﾛｳ", RegisteredPatient(patientID: "X", phonetic: "やまだ たろう", birthDate: "19700401")),
        ("YAMADA^TAROU", RegisteredPatient(patientID: "X", alphabetic: "Yamada^Taro", birthDate: "19700401")),
        ("YAMADA^TAROH", RegisteredPatient(patientID: "X", alphabetic: "yamada taro^^^", birthDate: "19700401")),
        ("ＹＡＭＡＤＡ^ＴＡＲŌ", RegisteredPatient(patientID: "X", alphabetic: "Yamada^Tarou", birthDate: "19700401")),
        ("Yamada Tarou", RegisteredPatient(patientID: "X", alphabetic: "YAMADA^TARO", birthDate: "1970-04-01")),
        (AnnexNames.japanese, RegisteredPatient(patientID: "X", phonetic: "ヤマダ^タロウ", birthDate: "19700401")),
    ])
    func singleGroup(_ name: String, _ entry: RegisteredPatient) throws {
        let match = try #require(matcher.automatic(PatientQuery(name: name, birthDate: "19700401"), among: [entry, suzuki]).accepted)
        #expect(match.candidate.patientID == "X")
        #expect(match.isExact)
    }

    // MARK: - Korean and Chinese

    @Test("Annex I and J/K names match themselves", arguments: [
        AnnexNames.korean, AnnexNames.chineseTraditional, AnnexNames.chineseSimplified,
    ])
    func otherAnnexes(_ name: String) throws {
        let pn = PersonName(name)
        let entry = RegisteredPatient(patientID: "K1", alphabetic: pn.alphabetic, ideographic: pn.ideographic,
                                      phonetic: pn.phonetic.isEmpty ? nil : pn.phonetic, birthDate: "19650102", sex: "M")
        let disc = PatientQuery(name: name, birthDate: "19650102", sex: "M")
        let match = try #require(matcher.automatic(disc, among: [yamada, entry]).accepted)
        #expect(match.candidate.patientID == "K1")
        #expect(outcome(match, .nameAlphabetic) == .match)
        #expect(outcome(match, .nameIdeographic) == .match)
        // And nothing of them matches Yamada.
        let ranked = matcher.rank(disc, among: [yamada, entry])
        #expect(ranked.map(\.candidate.patientID) == ["K1", "P001"])
        #expect(!ranked[1].isExact)
    }

    @Test("traditional and simplified Chinese: the romaji matches, the hanzi differ")
    func chineseVariants() throws {
        let pn = PersonName(AnnexNames.chineseSimplified)
        let entry = RegisteredPatient(patientID: "C1", alphabetic: pn.alphabetic, ideographic: pn.ideographic, birthDate: "19650102")
        let match = try #require(matcher.rank(PatientQuery(name: AnnexNames.chineseTraditional, birthDate: "19650102"), among: [entry]).first)
        #expect(outcome(match, .nameAlphabetic) == .match)
        #expect(outcome(match, .nameIdeographic) == .mismatch)
        #expect(match.isExact)
        // A conflicting group is not accepted automatically.
        #expect(!match.isAcceptableAutomatically)
        #expect(matcher.automatic(PatientQuery(name: AnnexNames.chineseTraditional, birthDate: "19650102"), among: [entry]).accepted == nil)
    }

    // MARK: - Refusals

    @Test("two same-name same-birth-date patients are ambiguous")
    func ambiguous() {
        var twin = yamada
        twin.patientID = "P009"
        twin.alphabetic = "Yamada^Tarou"
        twin.phonetic = "やまだ^たろう"
        let decision = matcher.automatic(query(AnnexNames.japanese), among: registry + [twin])
        guard case .ambiguous(let matches) = decision else {
            Issue.record("expected ambiguous, got \(decision)")
            return
        }
        #expect(Set(matches.map(\.candidate.patientID)) == ["P001", "P009"])
        #expect(matches.allSatisfy { $0.isExact })
        #expect(decision.summary == "2 registered patients match birth date and name (P001, P009); not choosing one — pick with --patient-id")
        // Many: the message stays short.
        let crowd = (0..<9).map { RegisteredPatient(patientID: "C\($0)", ideographic: "山田^太郎", birthDate: "19700401") }
        let many = matcher.automatic(query(AnnexNames.japanese), among: crowd)
        #expect(many.summary == "9 registered patients match birth date and name (C0, C1, C2, C3, C4, …); not choosing one — pick with --patient-id")
        #expect(decision.accepted == nil)
    }

    @Test("ambiguity wins even when one of two exact candidates has a conflict")
    func ambiguousWithConflict() {
        var other = yamada
        other.patientID = "P010"
        other.sex = "F"
        guard case .ambiguous(let matches) = matcher.automatic(query(AnnexNames.japanese), among: [yamada, other]) else {
            Issue.record("expected ambiguous")
            return
        }
        #expect(matches.map(\.candidate.patientID) == ["P001", "P010"])
    }

    @Test("Müller on the disc, Mueller in the registry: a similar name, not a conflict, and not automatic")
    func spelledOutUmlauts() {
        let mueller = RegisteredPatient(patientID: "10001", issuer: "CLINIC", alphabetic: "Mueller^Juergen", ideographic: "",
                                        phonetic: "", birthDate: "19600101", sex: "M")
        let disc = PatientQuery(name: "Müller^Jürgen", birthDate: "19600101", sex: "M", foreignPatientID: "F-77", foreignIssuer: "HOSP-B")
        let decision = matcher.automatic(disc, among: [mueller, suzuki])
        #expect(decision.accepted == nil, "a spelled-out umlaut is not proof of one person")
        let closest = matcher.rank(disc, among: [mueller, suzuki]).first
        #expect(closest?.candidate.patientID == "10001")
        #expect(closest?.reason(.nameAlphabetic)?.outcome == .partial)
        #expect(closest?.reason(.nameAlphabetic)?.detail == "name alphabetic Müller^Jürgen matches Mueller^Juergen only if ä, ö and ü are the ae, oe and ue spelled out")
        #expect(closest?.conflicts.isEmpty == true)
    }

    @Test("no match: nothing automatic, the closest first")
    func noMatch() {
        let disc = query("Yamada^Saburou=山田^三郎=やまだ^さぶろう", "19700401")
        let decision = matcher.automatic(disc, among: registry)
        guard case .noMatch(let closest) = decision else {
            Issue.record("expected noMatch, got \(decision)")
            return
        }
        #expect(closest.count == 3)
        // Same family name and birth date: Yamada Taro is closest.
        #expect(closest.first?.candidate.patientID == "P001")
        #expect(closest.first?.reason(.nameIdeographic)?.outcome == .mismatch)
        #expect(closest.first?.reason(.nameIdeographic)?.detail == "name ideographic 山田^三郎 ≠ 山田^太郎 (same family name)")
        #expect(closest.last?.candidate.patientID == "P002")
        #expect(decision.summary.hasPrefix("no registered patient matches both birth date and name"))
    }

    @Test("the closest list is limited")
    func closestLimit() {
        let many = (0..<20).map { RegisteredPatient(patientID: "Q\($0)", alphabetic: "DOE^JOHN", birthDate: "19990101") }
        guard case .noMatch(let closest) = PatientMatcher(closestLimit: 3).automatic(query("Nobody^Here"), among: many) else {
            Issue.record("expected noMatch")
            return
        }
        #expect(closest.map(\.candidate.patientID) == ["Q0", "Q1", "Q10"])
    }

    @Test("no candidates at all")
    func empty() {
        #expect(matcher.automatic(query(AnnexNames.japanese), among: []) == .noMatch([]))
        #expect(matcher.rank(query(AnnexNames.japanese), among: []).isEmpty)
    }

    @Test("a sex mismatch with everything else exact is not accepted")
    func sexMismatch() throws {
        let decision = matcher.automatic(query(AnnexNames.japanese, "19700401", "F"), among: registry)
        guard case .noMatch(let closest) = decision else {
            Issue.record("expected noMatch, got \(decision)")
            return
        }
        let top = try #require(closest.first)
        #expect(top.candidate.patientID == "P001")
        #expect(top.isExact)
        #expect(!top.isAcceptableAutomatically)
        #expect(top.conflicts.map(\.detail) == ["sex F ≠ M"])
        #expect(top.reason(.sex)?.outcome == .mismatch)
        #expect(decision.summary.contains("sex F ≠ M"))
        // Lower case and padding are the same sex.
        #expect(matcher.automatic(query(AnnexNames.japanese, "19700401", "m "), among: registry).accepted?.candidate.patientID == "P001")
    }

    @Test("no birth date on the disc is never automatic", arguments: [nil, "", "    ", "1970", "19701340", "unknown"] as [String?])
    func noBirthDate(_ birthDate: String?) throws {
        let decision = matcher.automatic(query(AnnexNames.japanese, birthDate), among: [yamada])
        guard case .noMatch(let closest) = decision else {
            Issue.record("expected noMatch, got \(decision)")
            return
        }
        let top = try #require(closest.first)
        #expect(top.candidate.patientID == "P001")
        #expect(!top.isExact)
        #expect(top.reason(.birthDate)?.outcome == .missing)
        #expect(decision.summary.contains("--auto needs a birth date"))
    }

    @Test("a different birth date is not exact; a near one is flagged")
    func birthDates() throws {
        let slip = try #require(matcher.rank(query(AnnexNames.japanese, "19800401"), among: [yamada]).first)
        #expect(!slip.isExact)
        #expect(slip.reason(.birthDate)?.outcome == .partial)
        #expect(slip.reason(.birthDate)?.detail == "birth date 1980-04-01 ≠ 1970-04-01 (one digit differs)")
        #expect(matcher.automatic(query(AnnexNames.japanese, "19800401"), among: [yamada]).accepted == nil)
        let swapped = try #require(matcher.rank(query(AnnexNames.japanese, "19700104"), among: [yamada]).first)
        #expect(swapped.reason(.birthDate)?.outcome == .partial)
        #expect(swapped.reason(.birthDate)?.detail == "birth date 1970-01-04 ≠ 1970-04-01 (month and day swapped)")
        #expect(!swapped.isExact)
        let unrelated = try #require(matcher.rank(query(AnnexNames.japanese, "19551231"), among: [yamada]).first)
        #expect(unrelated.reason(.birthDate)?.outcome == .mismatch)
        #expect(unrelated.reason(.birthDate)?.detail == "birth date 1955-12-31 ≠ 1970-04-01")
    }

    @Test("another name group that differs blocks the automatic decision")
    func conflictingGroup() throws {
        // Same kanji and date, different reading: perhaps another person.
        let disc = query("=山田^太郎=やまだ^ふとし")
        let match = try #require(matcher.rank(disc, among: [yamada]).first)
        #expect(match.isExact)
        #expect(match.reason(.namePhonetic)?.outcome == .mismatch)
        #expect(matcher.automatic(disc, among: [yamada]).accepted == nil)
    }

    // MARK: - Placeholders

    @Test("? placeholders: never exact, never a crash, weak evidence only")
    func placeholders() throws {
        // The ideographic and phonetic groups lost to `?` by the sender.
        let lost = query("Yamada^Tarou=??^??=???^???")
        let match = try #require(matcher.automatic(lost, among: registry).accepted)
        #expect(match.candidate.patientID == "P001")   // by the alphabetic group
        #expect(outcome(match, .nameIdeographic) == .missing)
        #expect(outcome(match, .namePhonetic) == .missing)

        // Nothing but placeholders: no name evidence, so nothing automatic.
        let only = query("??????=????^????")
        guard case .noMatch(let closest) = matcher.automatic(only, among: registry) else {
            Issue.record("expected noMatch")
            return
        }
        #expect(closest.allSatisfy { !$0.isExact })
        #expect(closest.first?.candidate.patientID == "P001")   // birth date and sex

        // Partly lost: agrees around the placeholders — partial, not a match.
        let partly = try #require(matcher.rank(query("=山田^?郎"), among: [yamada]).first)
        #expect(outcome(partly, .nameIdeographic) == .partial)
        #expect(!partly.isExact)
        #expect(matcher.automatic(query("=山田^?郎"), among: [yamada]).accepted == nil)

        // Disagrees around them: a conflict.
        let wrong = try #require(matcher.rank(query("=佐藤^??"), among: [yamada]).first)
        #expect(outcome(wrong, .nameIdeographic) == .mismatch)

        // Placeholders in the registry are handled the same way.
        var damaged = yamada
        damaged.ideographic = "??^??"
        damaged.alphabetic = nil
        damaged.phonetic = nil
        let fromRegistry = try #require(matcher.rank(query(AnnexNames.japanese), among: [damaged]).first)
        #expect(!fromRegistry.isExact)
        #expect(outcome(fromRegistry, .nameIdeographic) == .missing)
    }

    // MARK: - Foreign ID

    @Test("foreign (issuer, ID) equal to the candidate's own is weak evidence")
    func foreignID() throws {
        let sameIssuer = PatientQuery(name: "Yamada^Jirou", birthDate: "19720810", foreignPatientID: "P001", foreignIssuer: "CLINIC")
        let ranked = matcher.rank(sameIssuer, among: registry)
        let p001 = try #require(ranked.first { $0.candidate.patientID == "P001" })
        let p003 = try #require(ranked.first { $0.candidate.patientID == "P003" })
        #expect(p001.reason(.foreignID)?.outcome == .match)
        #expect(!p001.isExact)
        // Name and birth date outweigh the ID: P003 is first, but the same
        // issuer with another ID is a conflict, so it is not automatic.
        #expect(ranked.first?.candidate.patientID == "P003")
        #expect(p003.reason(.foreignID)?.outcome == .mismatch)
        #expect(matcher.automatic(sameIssuer, among: registry).accepted == nil)

        // Another hospital's ID says nothing.
        let other = PatientQuery(name: "Yamada^Jirou", birthDate: "19720810", foreignPatientID: "P001", foreignIssuer: "ELSEWHERE")
        #expect(matcher.rank(other, among: registry).allSatisfy { $0.reason(.foreignID) == nil })
        #expect(matcher.automatic(other, among: registry).accepted?.candidate.patientID == "P003")
    }

    // MARK: - Order

    @Test("ranking is deterministic, whatever the input order")
    func deterministic() {
        let same = (0..<6).map {
            RegisteredPatient(patientID: "T\(5 - $0)", alphabetic: "TANAKA^ICHIRO", birthDate: "19900101", sex: $0 % 2 == 0 ? "M" : "F")
        }
        let disc = PatientQuery(name: "Tanaka^Ichirou", birthDate: "19900101", sex: "M")
        let expected = matcher.rank(disc, among: same).map(\.candidate.patientID)
        #expect(expected == ["T1", "T3", "T5", "T0", "T2", "T4"])   // sex M first, then by ID
        for shuffled in [same.reversed(), same.shuffled(), same.shuffled(), same + same] {
            #expect(matcher.rank(disc, among: Array(shuffled)).map(\.candidate.patientID) == expected)
        }
        // Ties on everything but the issuer: no issuer first.
        let a = RegisteredPatient(patientID: "Z", issuer: "B", alphabetic: "X^Y", birthDate: "19900101")
        let b = RegisteredPatient(patientID: "Z", issuer: nil, alphabetic: "X^Y", birthDate: "19900101")
        let c = RegisteredPatient(patientID: "Z", issuer: "A", alphabetic: "X^Y", birthDate: "19900101")
        #expect(matcher.rank(PatientQuery(name: "X^Y", birthDate: "19900101"), among: [a, b, c]).map(\.candidate.issuer) == [nil, "A", "B"])
    }

    @Test("candidates from a source")
    func source() throws {
        let source = InMemoryCandidates(registry)
        #expect(try matcher.automatic(query(AnnexNames.japanese), from: source).accepted?.candidate == yamada)
        #expect(try matcher.rank(query(AnnexNames.japanese), from: source).count == 3)
    }

    @Test("a query from a data set")
    func fromDataset() throws {
        var dataset = Dataset()
        try dataset.setString("ISO_IR 192", vr: .CS, for: .specificCharacterSet)
        try dataset.setString(AnnexNames.japanese, vr: .PN, for: .patientName)
        try dataset.setString("19700401", vr: .DA, for: .patientBirthDate)
        try dataset.setString("M", vr: .CS, for: .patientSex)
        try dataset.setString("H-778", vr: .LO, for: .patientID)
        let query = PatientQuery(dataset: dataset)
        #expect(query.name == AnnexNames.japanese)
        #expect(query.foreignPatientID == "H-778")
        #expect(query.foreignIssuer == nil)
        #expect(matcher.automatic(query, among: registry).accepted?.candidate.patientID == "P001")
    }

    @Test("reasons and registry entries are Codable with stable field names")
    func codable() throws {
        let reason = MatchReason(field: .nameIdeographic, outcome: .match, detail: "name ideographic 山田^太郎 matches")
        #expect(reason.field.rawValue == "name-ideographic")
        #expect(MatchReason.Field.allCases.map(\.rawValue) == ["name-alphabetic", "name-ideographic", "name-phonetic", "birth-date", "sex", "foreign-id"])
    }

    @Test("samePerson: what is against (a differing birth date, sex or name; a birth date one digit off), in a few words; name variants are not; whyNotRemembered says the same")
    func samePerson() {
        let other = matcher.samePerson(query("SUZUKI^HANAKO", "19820315", "F"), yamada)
        #expect(other.differs)
        #expect(other.differingFields == "name, birth date and sex differ")
        #expect(other.againstDetails == "name alphabetic SUZUKI^HANAKO ≠ YAMADA^TARO; birth date 1982-03-15 ≠ 1970-04-01; sex F ≠ M")
        let why = matcher.whyNotRemembered(query("SUZUKI^HANAKO", "19820315", "F"), for: yamada, withIssuer: true)
        #expect(why?.contains(other.againstDetails) == true)

        let typo = matcher.samePerson(query("YAMADA^TARO", "19700402"), yamada)
        #expect(typo.differingFields == "birth date differs")
        for name in ["Yamada^Tarou", "YAMADA TARO", "=山田^太郎", "ﾔﾏﾀﾞ^ﾀﾛｳ", AnnexNames.japanese, "==やまだ^たろう"] {
            let same = matcher.samePerson(query(name), yamada)
            #expect(!same.differs, "\(name): \(same.againstDetails)")
            #expect(same.differingFields.isEmpty)
        }
        #expect(SamePersonCheck.differ(["sex"]) == "sex differs")
        #expect(SamePersonCheck.differ(["birth date", "sex"]) == "birth date and sex differ")
    }
}
