import DICOM

/// One piece of evidence for or against a candidate, worded for the person
/// deciding at the terminal: `birth date 1970-04-01 matches`,
/// `name ideographic 山田^太郎 matches`, `sex M ≠ F`.
///
/// In `≠` details the disc's value comes first, the registry's second.
public struct MatchReason: Sendable, Hashable, Codable, CustomStringConvertible {
    /// What was compared.
    public enum Field: String, Sendable, Hashable, Codable, CaseIterable {
        case nameAlphabetic = "name-alphabetic"
        case nameIdeographic = "name-ideographic"
        case namePhonetic = "name-phonetic"
        case birthDate = "birth-date"
        case sex
        case foreignID = "foreign-id"
    }

    /// How it compared.
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// Equal (after normalisation, for names).
        case match
        /// Consistent, or nearly equal, but not proof: a name that differs
        /// only in word breaks or kanji variants or agrees around `?`
        /// placeholders; a birth date one digit off. Never counts towards an
        /// exact match, never blocks one.
        case partial
        /// Different. Blocks an automatic decision.
        case mismatch
        /// Absent on one side, or not comparable (only placeholders, kana vs
        /// romaji). Neither for nor against.
        case missing
    }

    public var field: Field
    public var outcome: Outcome
    /// The sentence to show.
    public var detail: String
    /// The disc's value as written, when it has one.
    public var discValue: String?
    /// The registry's value as written, when it has one.
    public var registryValue: String?

    public init(field: Field, outcome: Outcome, detail: String, discValue: String? = nil, registryValue: String? = nil) {
        self.field = field
        self.outcome = outcome
        self.detail = detail
        self.discValue = discValue
        self.registryValue = registryValue
    }

    public var description: String { detail }

    /// The name group of a name field.
    public var group: PersonName.Group? {
        switch field {
        case .nameAlphabetic: return .alphabetic
        case .nameIdeographic: return .ideographic
        case .namePhonetic: return .phonetic
        default: return nil
        }
    }

    static func field(_ group: PersonName.Group) -> Field {
        switch group {
        case .alphabetic: return .nameAlphabetic
        case .ideographic: return .nameIdeographic
        case .phonetic: return .namePhonetic
        }
    }
}

/// A candidate as ranked for a query.
public struct PatientMatch: Sendable, Hashable {
    public var candidate: RegisteredPatient
    /// Higher is closer. Only the order means something; the numbers may
    /// change between versions.
    public var score: Int
    /// The evidence, in a fixed order: name groups, birth date, sex,
    /// foreign ID.
    public var reasons: [MatchReason]

    /// Birth date equal and at least one name group equal after
    /// normalisation (see ``NameNormalizer``).
    public var isExact: Bool {
        reasons.contains { $0.field == .birthDate && $0.outcome == .match }
            && reasons.contains { $0.group != nil && $0.outcome == .match }
    }

    /// The reasons against this candidate (``MatchReason/Outcome/mismatch``).
    public var conflicts: [MatchReason] { reasons.filter { $0.outcome == .mismatch } }

    /// Exact, and nothing against it (no other name group, sex or foreign ID
    /// differs): the only kind of match `--auto` may accept, and only when it
    /// is the only exact one.
    public var isAcceptableAutomatically: Bool { isExact && conflicts.isEmpty }

    /// The reason about `field`, if any (the first, for name groups).
    public func reason(_ field: MatchReason.Field) -> MatchReason? {
        reasons.first { $0.field == field }
    }

    public init(candidate: RegisteredPatient, score: Int, reasons: [MatchReason]) {
        self.candidate = candidate
        self.score = score
        self.reasons = reasons
    }
}

/// What speaks for and against two descriptions of a patient being the same
/// person (``PatientMatcher/samePerson(_:_:)``); `query`'s values come first
/// in every detail, `known`'s second.
public struct SamePersonCheck: Sendable, Hashable {
    /// The whole comparison.
    public var match: PatientMatch

    public init(match: PatientMatch) {
        self.match = match
    }

    /// The evidence against: a birth date or sex that differs, a name group
    /// that clearly differs (word breaks, kanji variants, `?` placeholders
    /// and different scripts are not), a patient ID of the same issuer that
    /// differs. A birth date only near the other (a typo to a person
    /// choosing among candidates) is a different birth date here.
    public var against: [MatchReason] {
        match.reasons.filter { $0.outcome == .mismatch || ($0.field == .birthDate && $0.outcome == .partial) }
    }

    /// Something says these are two people.
    public var differs: Bool { !against.isEmpty }

    /// The demographics positively agree: birth date and a name group equal
    /// (``PatientMatch/isExact``).
    public var agrees: Bool { match.isExact }

    /// The details of ``against``, `; `-separated.
    public var againstDetails: String { against.map(\.detail).joined(separator: "; ") }

    /// What differs, in a few words: `birth date and sex differ`,
    /// `name, birth date and sex differ`; empty when nothing does.
    public var differingFields: String { Self.differ(differingFieldNames) }

    /// The fields of ``against``, in order, each once: `name`, `birth date`,
    /// `sex`, `patient ID`.
    public var differingFieldNames: [String] {
        var fields: [String] = []
        for reason in against {
            let field: String
            switch reason.field {
            case .nameAlphabetic, .nameIdeographic, .namePhonetic: field = "name"
            case .birthDate: field = "birth date"
            case .sex: field = "sex"
            case .foreignID: field = "patient ID"
            }
            if !fields.contains(field) { fields.append(field) }
        }
        return fields
    }

    /// `sex differs`, `birth date and sex differ`, `name, birth date and
    /// sex differ`; empty for no fields.
    public static func differ(_ fields: [String]) -> String {
        guard let last = fields.last else { return "" }
        if fields.count == 1 { return "\(last) differs" }
        return fields.dropLast().joined(separator: ", ") + " and " + last + " differ"
    }
}

/// What `--auto` may do with a disc's patient.
public enum AutomaticDecision: Sendable, Hashable {
    /// Exactly one candidate is exact (birth date + a name group), and
    /// nothing speaks against it: file the disc under it.
    case unique(PatientMatch)
    /// Two or more candidates are exact: stop, never guess. All of them,
    /// best first.
    case ambiguous([PatientMatch])
    /// No candidate may be accepted automatically — none is exact, the only
    /// exact one has a conflict (sex, another name group, foreign ID), or the
    /// disc has no birth date. The closest candidates, best first, for the
    /// message (possibly empty).
    case noMatch([PatientMatch])

    /// The accepted match, for ``unique(_:)``.
    public var accepted: PatientMatch? {
        if case .unique(let match) = self { return match }
        return nil
    }

    /// One sentence for the user, saying what was decided and why.
    public var summary: String {
        switch self {
        case .unique(let match):
            return "patient \(match.candidate.patientID) is the only registered patient whose birth date and name match"
        case .ambiguous(let matches):
            var ids = matches.prefix(5).map(\.candidate.patientID).joined(separator: ", ")
            if matches.count > 5 { ids += ", …" }
            return "\(matches.count) registered patients match birth date and name (\(ids)); not choosing one — pick with --patient-id"
        case .noMatch(let closest):
            guard let top = closest.first else { return "no registered patient to compare with" }
            if let date = top.reason(.birthDate), date.outcome == .missing, date.discValue == nil {
                return "\(date.detail); --auto needs a birth date and a name to match"
            }
            if top.isExact {
                let against = top.conflicts.map(\.detail).joined(separator: "; ")
                return "patient \(top.candidate.patientID) matches birth date and name, but \(against); not accepted automatically"
            }
            return "no registered patient matches both birth date and name; closest: \(top.candidate.patientID) (\(top.reasons.map(\.detail).joined(separator: "; ")))"
        }
    }
}

/// Ranks registered patients against what a disc says, and decides whether
/// `--auto` may file it without asking.
///
/// Evidence, strongest first:
///
/// - **Name.** Each of the disc's component groups is compared, after
///   ``NameNormalizer`` normalisation, with the registry's group of the same
///   kind — or, when the scripts differ, with a registry group in the same
///   script, so a kana alphabetic group (PS3.5 H.3.2 `ﾔﾏﾀﾞ^ﾀﾛｳ`) meets the
///   registry's kana phonetic group. Any one group equal is a name match;
///   another group that differs is a conflict.
/// - **Birth date**, compared as 8 digits (`1970-04-01`, `1970.04.01` and
///   `19700401` are the same date).
/// - **Sex**: agreement counts little, a difference blocks `--auto`.
/// - **Foreign ID**: the disc's (issuer, ID) equal to the candidate's own
///   (a disc made by this clinic, or a shared issuer) is weak evidence; the
///   same issuer with another ID is a conflict. Remembered foreign → local
///   mappings are not the matcher's business.
///
/// Ranking is deterministic: by score, then exactness, then Patient ID and
/// issuer, then the rest of the candidate's values.
public struct PatientMatcher: Sendable {
    /// How many candidates ``AutomaticDecision/noMatch(_:)`` carries.
    public var closestLimit: Int

    public init(closestLimit: Int = 5) {
        self.closestLimit = closestLimit
    }

    /// Every candidate, best first (duplicates removed).
    public func rank(_ query: PatientQuery, among candidates: [RegisteredPatient]) -> [PatientMatch] {
        let disc = DiscSide(query)
        var seen = Set<RegisteredPatient>()
        var matches: [PatientMatch] = []
        for candidate in candidates where seen.insert(candidate).inserted {
            matches.append(match(disc, candidate))
        }
        return matches.sorted(by: PatientMatcher.ranksBefore)
    }

    /// Candidates from `source`, best first.
    public func rank(_ query: PatientQuery, from source: some CandidateSource) throws -> [PatientMatch] {
        rank(query, among: try source.candidates(for: query))
    }

    /// The `--auto` decision: ``AutomaticDecision/unique(_:)`` only for a
    /// single exact candidate with no conflict, and never when the disc has no
    /// valid birth date.
    public func automatic(_ query: PatientQuery, among candidates: [RegisteredPatient]) -> AutomaticDecision {
        decide(query, rank(query, among: candidates))
    }

    /// The `--auto` decision over the candidates from `source`.
    public func automatic(_ query: PatientQuery, from source: some CandidateSource) throws -> AutomaticDecision {
        decide(query, try rank(query, from: source))
    }

    func decide(_ query: PatientQuery, _ ranked: [PatientMatch]) -> AutomaticDecision {
        let closest = Array(ranked.prefix(max(0, closestLimit)))
        guard PatientMatcher.date(query.birthDate) != nil else { return .noMatch(closest) }
        let exact = ranked.filter(\.isExact)
        if exact.count > 1 { return .ambiguous(exact) }
        if let only = exact.first, only.isAcceptableAutomatically { return .unique(only) }
        return .noMatch(closest)
    }

    /// Why a decision remembered for a foreign (issuer, Patient ID) must not
    /// be applied to the patient `query` describes, who has that ID: nil
    /// when it may be. `known` is who the decision was taken for (the
    /// foreign patient's demographics, else the local patient's; nil when
    /// nothing is known); `withIssuer`: both carry the same Issuer of
    /// Patient ID (false: neither has one). The same ID is the same person
    /// only when
    /// - nothing says otherwise: no birth date or sex that differs, no name
    ///   group that clearly differs (a ``MatchReason/Outcome/mismatch``;
    ///   word breaks, kanji variants and placeholders are not);
    /// - and, when the ID has no issuer (`withIssuer` false: two hospitals
    ///   may well give the same number to different people), the
    ///   demographics positively agree: birth date and a name group equal
    ///   (``PatientMatch/isExact``).
    public func whyNotRemembered(_ query: PatientQuery, for known: RegisteredPatient?, withIssuer: Bool) -> String? {
        guard let known else {
            return withIssuer ? nil
                : "the ID has no issuer and nothing is known about the patient it was decided for, so it may be another hospital's patient"
        }
        let check = samePerson(query, known)
        let was = "decided for \(known.personName.isEmpty ? "(no name)" : known.personName.dicomForm) born \(known.birthDate ?? "?") sex \(known.sex ?? "?")"
        if check.differs {
            return "not the same patient (\(check.againstDetails)); \(was)"
        }
        if !withIssuer && !check.agrees {
            return "the ID has no issuer and birth date and name do not both agree (\(check.match.reasons.map(\.detail).joined(separator: "; "))); \(was)"
        }
        return nil
    }

    /// Whether what `query` says about a patient and what `known` says
    /// (a registry entry, the store's patient, another patient of the same
    /// medium) can be the same person: the one comparison behind
    /// ``whyNotRemembered(_:for:withIssuer:)`` and the import's warnings
    /// about an assigned local patient whose demographics differ from the
    /// disc's, or two patients of a disc filed under one local patient.
    public func samePerson(_ query: PatientQuery, _ known: RegisteredPatient) -> SamePersonCheck {
        SamePersonCheck(match: match(DiscSide(query), known))
    }

    // MARK: - Scoring

    /// The disc's values, normalised once per query.
    struct DiscSide {
        var query: PatientQuery
        var name: PersonName
        /// Normalised words per group (empty: no such group).
        var words: [PersonName.Group: [String]]
        var date: String?
        init(_ query: PatientQuery) {
            self.query = query
            name = query.personName
            var words: [PersonName.Group: [String]] = [:]
            for group in PersonName.Group.allCases {
                words[group] = NameNormalizer.words(of: name[group])
            }
            self.words = words
            date = PatientMatcher.date(query.birthDate)
        }
    }

    static let groupNames: [PersonName.Group: String] = [.alphabetic: "alphabetic", .ideographic: "ideographic", .phonetic: "phonetic"]

    func match(_ disc: DiscSide, _ candidate: RegisteredPatient) -> PatientMatch {
        var reasons: [MatchReason] = []
        var score = 0

        // Names.
        let registryWords = Dictionary(uniqueKeysWithValues: PersonName.Group.allCases.map {
            ($0, NameNormalizer.words(of: candidate[$0]))
        })
        var nameScores: [Int] = []
        var nameMatched = false, nameConflicts = 0
        for group in PersonName.Group.allCases {
            let discWords = disc.words[group] ?? []
            let discText = disc.name[group]
            guard !discWords.isEmpty else { continue }
            let label = "name \(Self.groupNames[group]!) \(Self.display(discText))"
            let field = MatchReason.field(group)
            // The registry group to compare with: the same one, unless its
            // script differs and another group's is the same.
            let discScript = NameNormalizer.script(of: discWords.joined(separator: " "))
            let sameScript: (PersonName.Group) -> Bool = {
                let words = registryWords[$0] ?? []
                guard !words.isEmpty else { return false }
                let script = NameNormalizer.script(of: words.joined(separator: " "))
                return script == discScript || script == .none || discScript == .none
            }
            let order = [group] + [PersonName.Group.phonetic, .ideographic, .alphabetic].filter { $0 != group }
            guard let target = order.first(where: sameScript) else {
                let present = PersonName.Group.allCases.filter { !(registryWords[$0] ?? []).isEmpty }
                let detail: String
                if present.isEmpty {
                    detail = "\(label): the registry has no name for this patient"
                } else if (registryWords[group] ?? []).isEmpty {
                    detail = "\(label): the registry has no \(Self.groupNames[group]!) name in the same script"
                } else {
                    detail = "\(label): not comparable with \(Self.display(candidate[group])) (different scripts)"
                }
                reasons.append(MatchReason(field: field, outcome: .missing, detail: detail, discValue: discText,
                                           registryValue: (registryWords[group] ?? []).isEmpty ? nil : candidate[group]))
                continue
            }
            let registryText = candidate[target]
            let other = target == group ? "" : " \(Self.groupNames[target]!)"
            let theirs = "\(other) \(Self.display(registryText))"
            let comparison = NameNormalizer.compareWords(discWords, registryWords[target] ?? [])
            let outcome: MatchReason.Outcome
            let detail: String
            let points: Int
            switch comparison {
            case .equal:
                outcome = .match; points = 50; nameMatched = true
                detail = target == group && discText == registryText ? "\(label) matches" : "\(label) matches\(theirs)"
            case .equalApartFromWordBreaks:
                outcome = .partial; points = 35
                detail = "\(label) matches\(theirs) except where the name is split"
            case .equalApartFromKanjiVariants:
                outcome = .partial; points = 35
                detail = "\(label) matches\(theirs) only if kanji variants are the same"
            case .equalApartFromSpelledOutUmlauts:
                outcome = .partial; points = 35
                detail = "\(label) matches\(theirs) only if ä, ö and ü are the ae, oe and ue spelled out"
            case .consistentWithPlaceholders:
                outcome = .partial; points = 15
                detail = "\(label) agrees with\(theirs) around the ? placeholders (characters the sending system could not write)"
            case .onlyPlaceholders:
                outcome = .missing; points = 0
                detail = "\(label) cannot be compared with\(theirs) (placeholders for characters a system could not write)"
            case .differentScripts, .empty:
                outcome = .missing; points = 0
                detail = "\(label): not comparable with\(theirs)"
            case .different(let similarity, let sameFamily):
                outcome = .mismatch; points = Int((25 * similarity).rounded()) + (sameFamily ? 5 : 0)
                nameConflicts += 1
                detail = "\(label) ≠\(theirs)" + (sameFamily ? " (same family name)" : "")
            }
            nameScores.append(points)
            reasons.append(MatchReason(field: field, outcome: outcome, detail: detail, discValue: discText, registryValue: registryText))
        }
        if disc.words.values.allSatisfy(\.isEmpty) {
            reasons.append(MatchReason(field: .nameAlphabetic, outcome: .missing, detail: "no patient name on the disc",
                                       registryValue: candidate.personName.isEmpty ? nil : candidate.personName.dicomForm))
        }
        score += nameScores.max() ?? 0
        if nameMatched { score -= 10 * nameConflicts }

        // Birth date.
        let registryDate = Self.date(candidate.birthDate)
        switch (disc.date, registryDate) {
        case let (ours?, theirs?) where ours == theirs:
            score += 40
            reasons.append(MatchReason(field: .birthDate, outcome: .match, detail: "birth date \(DICOMText.displayDate(ours)) matches",
                                       discValue: disc.query.birthDate, registryValue: candidate.birthDate))
        case let (ours?, theirs?):
            let close = Self.closeDates(ours, theirs)
            score += close == nil ? 0 : 15
            reasons.append(MatchReason(
                field: .birthDate, outcome: close == nil ? .mismatch : .partial,
                detail: "birth date \(DICOMText.displayDate(ours)) ≠ \(DICOMText.displayDate(theirs))" + (close.map { " (\($0))" } ?? ""),
                discValue: disc.query.birthDate, registryValue: candidate.birthDate))
        case (nil, _):
            let written = disc.query.birthDate.map { $0.trimmingSpaces }.flatMap { $0.isEmpty ? nil : $0 }
            reasons.append(MatchReason(
                field: .birthDate, outcome: .missing,
                detail: written.map { "the disc's birth date \"\($0)\" is not a date" } ?? "no birth date on the disc",
                discValue: nil, registryValue: candidate.birthDate))
        case (_?, nil):
            reasons.append(MatchReason(field: .birthDate, outcome: .missing, detail: "no birth date in the registry",
                                       discValue: disc.query.birthDate, registryValue: candidate.birthDate))
        }

        // Sex.
        let ourSex = Self.sex(disc.query.sex), theirSex = Self.sex(candidate.sex)
        switch (ourSex, theirSex) {
        case let (ours?, theirs?) where ours == theirs:
            score += 5
            reasons.append(MatchReason(field: .sex, outcome: .match, detail: "sex \(ours) matches", discValue: disc.query.sex, registryValue: candidate.sex))
        case let (ours?, theirs?):
            score -= 15
            reasons.append(MatchReason(field: .sex, outcome: .mismatch, detail: "sex \(ours) ≠ \(theirs)", discValue: disc.query.sex, registryValue: candidate.sex))
        case (nil, _?):
            reasons.append(MatchReason(field: .sex, outcome: .missing, detail: "no sex on the disc", registryValue: candidate.sex))
        case (_?, nil):
            reasons.append(MatchReason(field: .sex, outcome: .missing, detail: "no sex in the registry", discValue: disc.query.sex))
        case (nil, nil):
            break
        }

        // Foreign ID: only evidence when the candidate's own ID is in the
        // same issuer's namespace.
        if let foreignID = Self.trimmed(disc.query.foreignPatientID) {
            let ourIssuer = Self.trimmed(disc.query.foreignIssuer), theirIssuer = Self.trimmed(candidate.issuer)
            let localID = candidate.patientID.trimmingSpaces
            let issuerText = ourIssuer.map { " (issuer \($0))" } ?? ""
            if ourIssuer == theirIssuer {
                if foreignID == localID {
                    score += 10
                    reasons.append(MatchReason(field: .foreignID, outcome: .match,
                                               detail: "the disc's patient ID \(foreignID)\(issuerText) is this patient's ID",
                                               discValue: foreignID, registryValue: localID))
                } else if ourIssuer != nil {
                    score -= 10
                    reasons.append(MatchReason(field: .foreignID, outcome: .mismatch,
                                               detail: "the disc's patient ID \(foreignID)\(issuerText) ≠ \(localID) of the same issuer",
                                               discValue: foreignID, registryValue: localID))
                }
            }
        }

        return PatientMatch(candidate: candidate, score: score, reasons: reasons)
    }

    static func ranksBefore(_ a: PatientMatch, _ b: PatientMatch) -> Bool {
        if a.score != b.score { return a.score > b.score }
        if a.isAcceptableAutomatically != b.isAcceptableAutomatically { return a.isAcceptableAutomatically }
        if a.isExact != b.isExact { return a.isExact }
        let x = a.candidate, y = b.candidate
        let keysA = [x.patientID, x.issuer ?? "", x.alphabetic ?? "", x.ideographic ?? "", x.phonetic ?? "", x.birthDate ?? "", x.sex ?? ""]
        let keysB = [y.patientID, y.issuer ?? "", y.alphabetic ?? "", y.ideographic ?? "", y.phonetic ?? "", y.birthDate ?? "", y.sex ?? ""]
        for (p, q) in zip(keysA, keysB) where p != q {
            // Compare scalars, not Characters: a total order that does not
            // depend on the Unicode tables of the runtime.
            return p.unicodeScalars.lexicographicallyPrecedes(q.unicodeScalars)
        }
        // Equal keys: `nil` issuer (and other nil fields) before "".
        let nilsA = [x.issuer, x.alphabetic, x.ideographic, x.phonetic, x.birthDate, x.sex].map { $0 == nil }
        let nilsB = [y.issuer, y.alphabetic, y.ideographic, y.phonetic, y.birthDate, y.sex].map { $0 == nil }
        for (p, q) in zip(nilsA, nilsB) where p != q { return p }
        return false
    }

    // MARK: - Values

    /// A DA value as 8 digits, accepting `YYYY-MM-DD` and `YYYY.MM.DD`
    /// (ACR-NEMA); nil unless it is a plausible date.
    static func date(_ text: String?) -> String? {
        guard let text else { return nil }
        let digits = String(text.unicodeScalars.filter { $0.value >= 0x30 && $0.value <= 0x39 }.map(Character.init))
        let others = text.unicodeScalars.filter { !($0.value >= 0x30 && $0.value <= 0x39) && !" -./".unicodeScalars.contains($0) }
        guard digits.count == 8, others.isEmpty,
              let month = Int(digits.dropFirst(4).prefix(2)), (1...12).contains(month),
              let day = Int(digits.suffix(2)), (1...31).contains(day) else { return nil }
        return digits
    }

    /// Why two different dates are close (typing slips), or nil.
    static func closeDates(_ a: String, _ b: String) -> String? {
        let x = Array(a), y = Array(b)
        let differing = zip(x, y).filter { $0 != $1 }.count
        if differing == 1 { return "one digit differs" }
        if x[0..<4] == y[0..<4], x[4..<6] == y[6..<8], x[6..<8] == y[4..<6] { return "month and day swapped" }
        return nil
    }

    /// A birth date as shown to people: `1970-04-01` for a valid DA value
    /// (any of the forms ``date(_:)`` accepts), else as written.
    public static func displayDate(_ text: String?) -> String? {
        guard let text = trimmed(text) else { return nil }
        return date(text).map { DICOMText.displayDate($0) } ?? text
    }

    static func display(_ group: String) -> String {
        let form = PersonName.Components(group).groupForm
        return form.isEmpty ? group : form
    }

    static func sex(_ text: String?) -> String? {
        trimmed(text)?.uppercased()
    }

    static func trimmed(_ text: String?) -> String? {
        guard let value = text?.trimmingSpaces, !value.isEmpty else { return nil }
        return value
    }
}

extension String {
    /// Without leading and trailing spaces (DICOM padding, CSV cells).
    var trimmingSpaces: String {
        var scalars = Substring(self).unicodeScalars
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\0" { scalars.removeLast() }
        return String(scalars)
    }
}
