import Media
import Reconcile
import Store

/// A patient decision to look at twice before confirming. The decision
/// stays as given — a person (or their mapping file) took it — but the
/// import states it before asking, in a dry run, as a `warning` event with
/// `--json`, in its end report and in the audit log.
public struct IdentityWarning: Sendable, Hashable, Codable {
    public enum Code: String, Sendable, Hashable, Codable {
        /// What the registry (else the store) says about the local patient
        /// contradicts what the medium says about its patient: another
        /// birth date or sex, a clearly different name.
        case localPatientDiffers = "local-patient-differs"
        /// Two or more patients of the medium go to one local patient, and
        /// nothing shows they are one person.
        case patientsMerged = "patients-merged"
        /// A patient kept as it is (`--as-is`, `=` on the terminal) whose
        /// Patient ID and issuer (or both without issuer) the clinic's
        /// registry or the store already knows as someone else, or that an
        /// earlier patient of the same medium keeps too without being
        /// shown to be the same person. The store files patients by
        /// Patient ID and issuer (one patient row each), so keeping it
        /// would put two people under one patient: the patient is refused
        /// (``IdentityWarning/refused``) and left out (``patients`` names
        /// it alone).
        case keptIDInUse = "kept-id-in-use"
    }

    public var code: Code
    /// The patients of the medium concerned (indices into the scan
    /// report's patients).
    public var patients: [Int]
    /// The local patient they are filed under.
    public var localPatientID: String
    public var localIssuer: String?
    /// The evidence, one sentence each (`birth date 1952-12-12 ≠
    /// 1970-04-01`; the medium's value first).
    public var reasons: [String]
    /// The sentence to show.
    public var message: String
    /// The patients concerned are left out of the import (exit status 1)
    /// instead of being applied as decided (``Code/keptIDInUse``).
    public var refused = false
}

extension ImportPlan {
    /// The plan with the patients a refusing warning names left out
    /// (``PatientDecision/skip``); ``ImportJob/run(_:dryRun:send:events:)``
    /// leaves them out itself, this is for showing and asking.
    public func leavingOut(_ warnings: [IdentityWarning]) -> ImportPlan {
        var plan = self
        for index in warnings.filter(\.refused).flatMap(\.patients) where plan.decisions.indices.contains(index) {
            plan.decisions[index] = .skip
            plan.decidedBy[index] = nil
        }
        return plan
    }
}

extension ImportJob {
    /// What is doubtful about the assignments of `plan` (``PatientDecision/assign(_:)``,
    /// however decided), in patient order:
    /// - a patient whose local patient is known (the demographics assigned,
    ///   else the registry's entry, else the store's patient; see
    ///   ``PatientResolver/localPatient(_:)``) as someone else by
    ///   ``PatientMatcher/samePerson(_:_:)``: a birth date or sex that
    ///   differs, a name group that clearly differs (word breaks, kanji
    ///   variants, placeholders and kana against kanji do not), a patient
    ///   ID of the same issuer that differs. Nothing known, nothing said.
    /// - a patient kept as it is whose Patient ID and issuer (both without
    ///   issuer counts as the same) the store or the registry knows as
    ///   someone else by ``PatientMatcher/samePerson(_:_:)``: refused
    ///   (``IdentityWarning/Code/keptIDInUse``), since the store would file
    ///   both under one patient.
    /// - patients of the medium filed under one store key (Patient ID and
    ///   issuer, `Catalog.patientKey`), however each got it — assigned to
    ///   one local patient, kept as they are with the same ID and issuer
    ///   (the scan tells patients of one ID apart by name), or one kept and
    ///   another assigned the kept one's ID and issuer — unless every two
    ///   of them are shown to be one person (``mergeDoubts(_:_:matcher:key:strict:)``):
    ///   nothing against it, and birth date and a name group equal, or the
    ///   same Patient ID and issuer on the medium. Merged through kept
    ///   identities alone (nobody decided it), each later patient not shown
    ///   to be one kept before it is refused (``IdentityWarning/Code/keptIDInUse``),
    ///   and for an ID without issuer the same number is no evidence there;
    ///   with an assignment involved, the rest is applied with one
    ///   ``IdentityWarning/Code/patientsMerged``.
    public func identityWarnings(_ plan: ImportPlan, matcher: PatientMatcher = PatientMatcher()) throws -> [IdentityWarning] {
        let patients = plan.report.patients
        let resolver = PatientResolver(store: store)
        var warnings: [IdentityWarning] = []
        // Every patient under the store key it will be filed under
        // (Catalog.patientKey: Patient ID and issuer), kept or assigned.
        var byKey: [LocalKey: [Int]] = [:]
        var order: [LocalKey] = []
        func file(_ index: Int, under key: LocalKey) {
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(index)
        }
        for (index, patient) in patients.enumerated() {
            if plan.decisions[index] == .keepSourceIdentity {
                if let warning = try keptIDInUse(index, patient, matcher: matcher) {
                    warnings.append(warning)
                } else if let id = patient.patientID, !id.isEmpty {
                    file(index, under: LocalKey(id: id, issuer: patient.issuerOfPatientID ?? ""))
                }
                continue
            }
            guard case .assign(let identity) = plan.decisions[index] else { continue }
            file(index, under: LocalKey(id: identity.patientID, issuer: identity.issuerOfPatientID ?? ""))
            guard let local = try resolver.localPatient(identity) else { continue }
            let check = matcher.samePerson(PatientQuery(patient), local)
            guard check.differs else { continue }
            warnings.append(IdentityWarning(
                code: .localPatientDiffers, patients: [index], localPatientID: identity.patientID,
                localIssuer: identity.issuerOfPatientID, reasons: check.against.map(\.detail),
                message: "\(Self.describe(patient)) → \(Self.describe(local)): \(check.differingFields) (\(check.againstDetails))"))
        }
        for key in order {
            guard let indices = byKey[key], indices.count > 1 else { continue }
            let label = key.issuer.isEmpty ? key.id : "\(key.id) (issuer \(key.issuer))"
            func kept(_ index: Int) -> Bool { plan.decisions[index] == .keepSourceIdentity }
            // Kept identities alone would merge the patients without anyone
            // having decided so: a later one not shown to be the person kept
            // before it is refused, as a kept ID the clinic uses is.
            var filed: [Int] = []
            for index in indices {
                let earlier = kept(index) ? filed.filter(kept) : []
                let doubts = earlier.map { (Self.mergeDoubts(patients[index], patients[$0], matcher: matcher, key: key), $0) }
                    .filter { !$0.0.reasons.isEmpty }
                guard let (doubt, other) = doubts.first else {
                    filed.append(index)
                    continue
                }
                let why = doubt.fields.isEmpty ? doubt.reasons.joined(separator: "; ")
                    : "\(SamePersonCheck.differ(doubt.fields)) (\(doubt.reasons.joined(separator: "; ")))"
                warnings.append(IdentityWarning(
                    code: .keptIDInUse, patients: [index], localPatientID: key.id, localIssuer: key.issuer.isEmpty ? nil : key.issuer,
                    reasons: doubt.reasons,
                    message: "\(Self.describe(patients[index])) is to be kept as it is, but \(label) is kept too for another patient of this medium, "
                        + "\(Self.describe(patients[other])): \(why); the store files patients by Patient ID and issuer, so the two would become "
                        + "one patient: left out, not imported; give them local Patient IDs instead (a choice on the terminal for each; "
                        + "--patient-id and --mapping cannot tell two patients of one ID apart)",
                    refused: true))
            }
            // With an assignment involved, a person decided it: applied, and
            // said when nothing shows they are one person.
            guard filed.count > 1 else { continue }
            var reasons: [String] = []
            var fields: [String] = []
            for (position, a) in filed.enumerated() {
                for b in filed[(position + 1)...] {
                    let pair = filed.count > 2 ? "\(patients[a].patientID ?? "(no ID)") / \(patients[b].patientID ?? "(no ID)"): " : ""
                    let doubt = Self.mergeDoubts(patients[a], patients[b], matcher: matcher, key: key,
                                                 strict: kept(a) && kept(b))
                    reasons += doubt.reasons.map { pair + $0 }
                    fields += doubt.fields.filter { !fields.contains($0) }
                }
            }
            guard !reasons.isEmpty else { continue }
            let count = filed.count == 2 ? "two" : "\(filed.count)"
            let listed = filed.map { Self.describe(patients[$0]) + (kept($0) ? " (kept as it is)" : "") }.joined(separator: ", ")
            let why = fields.isEmpty ? reasons.joined(separator: "; ")
                : "\(SamePersonCheck.differ(fields)) (\(reasons.joined(separator: "; ")))"
            warnings.append(IdentityWarning(
                code: .patientsMerged, patients: filed, localPatientID: key.id, localIssuer: key.issuer.isEmpty ? nil : key.issuer,
                reasons: reasons, message: "\(count) patients of this medium (\(listed)) go to one local patient \(label): \(why)"))
        }
        return warnings
    }

    /// Why two patients of the medium filed under one store key (`key`)
    /// are not shown to be one person, the one pairwise comparison of the
    /// merge checks (``PatientMatcher/samePerson(_:_:)``): the evidence
    /// against them (and the fields), else `nothing shows …` unless birth
    /// date and a name group agree or, as weaker evidence, they carry the
    /// same Patient ID and issuer on the medium. `strict` (both kept as
    /// they are): an ID without issuer is no such evidence — two hospitals
    /// may give one number to different people, the rule a remembered
    /// decision follows (``PatientMatcher/whyNotRemembered(_:for:withIssuer:)``).
    static func mergeDoubts(_ a: ScanReport.Patient, _ b: ScanReport.Patient, matcher: PatientMatcher, key: LocalKey,
                            strict: Bool = true) -> (reasons: [String], fields: [String]) {
        let check = matcher.samePerson(PatientQuery(a), registered(b))
        if check.differs { return (check.against.map(\.detail), check.differingFieldNames) }
        if check.agrees { return ([], []) }
        let sameID = check.match.reason(.foreignID)?.outcome == .match
        if sameID && !(strict && key.issuer.isEmpty) { return ([], []) }
        return (sameID
            ? ["nothing shows they are one person: the Patient ID has no issuer (two hospitals may give one number to different people), and birth date and name do not both agree"]
            : ["nothing shows they are one person: birth date and name do not both agree"], [])
    }

    /// A kept identity the clinic already uses for someone else: the
    /// patient the store files under the same Patient ID and issuer (it
    /// would take the instances), else the registry's entry with them.
    private func keptIDInUse(_ index: Int, _ patient: ScanReport.Patient, matcher: PatientMatcher) throws -> IdentityWarning? {
        guard let store, let id = patient.patientID, !id.isEmpty else { return nil }
        let issuer = patient.issuerOfPatientID ?? ""
        let stored = try store.patients(patientID: id).filter { ($0.issuerOfPatientID ?? "") == issuer }.map {
            (RegisteredPatient(patientID: $0.patientID, issuer: $0.issuerOfPatientID, personName: $0.patientName,
                               birthDate: $0.birthDate, sex: $0.sex), "the store's patient")
        }
        let registered = try store.registry(patientID: id).filter { ($0.issuer ?? "") == issuer }.map { ($0, "the registry's patient") }
        for (known, whose) in stored + registered {
            let check = matcher.samePerson(PatientQuery(patient), known)
            guard check.differs else { continue }
            let label = issuer.isEmpty ? id : "\(id) (issuer \(issuer))"
            return IdentityWarning(
                code: .keptIDInUse, patients: [index], localPatientID: id, localIssuer: patient.issuerOfPatientID,
                reasons: check.against.map(\.detail),
                message: "\(Self.describe(patient)) is to be kept as it is, but \(label) is \(whose) \(Self.describe(name: known.personName.dicomForm, birthDate: known.birthDate, sex: known.sex)): "
                    + "\(check.differingFields) (\(check.againstDetails)); the store files patients by Patient ID and issuer, so the two "
                    + "would become one patient: left out, not imported; give it a local Patient ID instead "
                    + "(--patient-id \(id)=LOCAL, a --mapping row, or a choice on the terminal)",
                refused: true)
        }
        return nil
    }

    struct LocalKey: Hashable {
        var id: String
        var issuer: String
    }

    /// `11-5120 YAMAMOTO^KEIKO 1952-12-12 F`: a patient of the medium as the warnings name it.
    static func describe(_ patient: ScanReport.Patient) -> String {
        describe(id: patient.patientID, name: patient.name, birthDate: patient.birthDate, sex: patient.sex)
    }

    /// `12345 Yamada^Taro=山田^太郎=ヤマダ^タロウ 1970-04-01 M`: a local patient.
    static func describe(_ patient: RegisteredPatient) -> String {
        describe(id: patient.patientID, name: patient.personName.dicomForm, birthDate: patient.birthDate, sex: patient.sex)
    }

    private static func describe(id: String?, name: String?, birthDate: String?, sex: String?) -> String {
        let id = (id ?? "").isEmpty ? "(no ID)" : id!
        return id + " " + describe(name: name, birthDate: birthDate, sex: sex)
    }

    /// `SUZUKI^ICHIRO 1958-07-04 M`: the demographics alone.
    private static func describe(name: String?, birthDate: String?, sex: String?) -> String {
        let name = (name ?? "").isEmpty ? "(no name)" : name!
        return [name, PatientMatcher.displayDate(birthDate) ?? "(no birth date)", (sex ?? "").isEmpty ? "(no sex)" : sex!]
            .joined(separator: " ")
    }

    /// Another patient of the medium, to hold one against.
    static func registered(_ patient: ScanReport.Patient) -> RegisteredPatient {
        RegisteredPatient(patientID: patient.patientID ?? "", issuer: patient.issuerOfPatientID, personName: patient.name,
                          birthDate: patient.birthDate, sex: patient.sex)
    }
}
