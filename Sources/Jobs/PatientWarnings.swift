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
    public func identityWarnings(_ plan: ImportPlan, matcher: PatientMatcher = PatientMatcher()) throws -> [IdentityWarning] {
        let patients = plan.report.patients
        let resolver = PatientResolver(store: store)
        var warnings: [IdentityWarning] = []
        var byLocal: [LocalKey: [Int]] = [:]
        var order: [LocalKey] = []
        for (index, patient) in patients.enumerated() {
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
        let name = (name ?? "").isEmpty ? "(no name)" : name!
        return [id, name, PatientMatcher.displayDate(birthDate) ?? "(no birth date)", (sex ?? "").isEmpty ? "(no sex)" : sex!]
            .joined(separator: " ")
    }

    /// Another patient of the medium, to hold one against.
    static func registered(_ patient: ScanReport.Patient) -> RegisteredPatient {
        RegisteredPatient(patientID: patient.patientID ?? "", issuer: patient.issuerOfPatientID, personName: patient.name,
                          birthDate: patient.birthDate, sex: patient.sex)
    }
}
