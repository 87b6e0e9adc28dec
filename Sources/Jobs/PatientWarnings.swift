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
        /// registry or the store already knows as someone else. The store
        /// files patients by Patient ID and issuer (one patient row each),
        /// so keeping it would put two people under one patient: the
        /// patient is refused (``IdentityWarning/refused``) and left out.
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
    /// - patients of the medium that go to one local patient, unless every
    ///   two of them are shown to be one person: nothing against it, and
    ///   birth date and a name group equal, or the same Patient ID (and
    ///   issuer) on the medium.
    /// - a patient kept as it is whose Patient ID and issuer (both without
    ///   issuer counts as the same) the store or the registry knows as
    ///   someone else by ``PatientMatcher/samePerson(_:_:)``: refused
    ///   (``IdentityWarning/Code/keptIDInUse``), since the store would file
    ///   both under one patient.
    public func identityWarnings(_ plan: ImportPlan, matcher: PatientMatcher = PatientMatcher()) throws -> [IdentityWarning] {
        let patients = plan.report.patients
        let resolver = PatientResolver(store: store)
        var warnings: [IdentityWarning] = []
        var byLocal: [LocalKey: [Int]] = [:]
        var order: [LocalKey] = []
        for (index, patient) in patients.enumerated() {
            if plan.decisions[index] == .keepSourceIdentity {
                if let warning = try keptIDInUse(index, patient, matcher: matcher) { warnings.append(warning) }
                continue
            }
            guard case .assign(let identity) = plan.decisions[index] else { continue }
            let key = LocalKey(id: identity.patientID, issuer: identity.issuerOfPatientID ?? "")
            if byLocal[key] == nil { order.append(key) }
            byLocal[key, default: []].append(index)
            guard let local = try resolver.localPatient(identity) else { continue }
            let check = matcher.samePerson(PatientQuery(patient), local)
            guard check.differs else { continue }
            warnings.append(IdentityWarning(
                code: .localPatientDiffers, patients: [index], localPatientID: identity.patientID,
                localIssuer: identity.issuerOfPatientID, reasons: check.against.map(\.detail),
                message: "\(Self.describe(patient)) → \(Self.describe(local)): \(check.differingFields) (\(check.againstDetails))"))
        }
        for key in order {
            guard let indices = byLocal[key], indices.count > 1 else { continue }
            var reasons: [String] = []
            var fields: [String] = []
            for (position, a) in indices.enumerated() {
                for b in indices[(position + 1)...] {
                    let check = matcher.samePerson(PatientQuery(patients[a]), Self.registered(patients[b]))
                    let pair = indices.count > 2 ? "\(patients[a].patientID ?? "(no ID)") / \(patients[b].patientID ?? "(no ID)"): " : ""
                    if check.differs {
                        reasons += check.against.map { pair + $0.detail }
                        fields += check.differingFieldNames.filter { !fields.contains($0) }
                    } else if !check.agrees && check.match.reason(.foreignID)?.outcome != .match {
                        reasons.append(pair + "nothing shows they are one person: birth date and name do not both agree")
                    }
                }
            }
            guard !reasons.isEmpty else { continue }
            let count = indices.count == 2 ? "two" : "\(indices.count)"
            let listed = indices.map { Self.describe(patients[$0]) }.joined(separator: ", ")
            let why = fields.isEmpty ? reasons.joined(separator: "; ")
                : "\(SamePersonCheck.differ(fields)) (\(reasons.joined(separator: "; ")))"
            let local = key.issuer.isEmpty ? key.id : "\(key.id) (issuer \(key.issuer))"
            warnings.append(IdentityWarning(
                code: .patientsMerged, patients: indices, localPatientID: key.id, localIssuer: key.issuer.isEmpty ? nil : key.issuer,
                reasons: reasons, message: "\(count) patients of this medium (\(listed)) go to one local patient \(local): \(why)"))
        }
        return warnings
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

    private struct LocalKey: Hashable {
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
