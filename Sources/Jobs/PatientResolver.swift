import Media
import Reconcile
import Store

/// Finds the local identity for the patients on a medium, from what the
/// catalog knows: the registry of the clinic's patients and the
/// reconciliations remembered from earlier discs.
public struct PatientResolver: Sendable {
    public let store: InstanceStore?

    public init(store: InstanceStore?) {
        self.store = store
    }

    /// A decision remembered for a patient's foreign (issuer, ID).
    public enum Remembered: Sendable {
        /// It is this patient's: apply it.
        case applies(IdentityMapping)
        /// It was taken for someone else with the same ID: the patient is
        /// to be decided anew (the text says why, to show).
        case notThisPatient(IdentityMapping, why: String)
    }

    /// The decision remembered for this patient's foreign (issuer, ID), and
    /// whether it is this patient's: the medium's name, birth date and sex
    /// are held against the foreign patient it was taken for (for a decision
    /// that did not keep them, against the local patient's as the store has
    /// them) by ``PatientMatcher/whyNotRemembered(_:for:withIssuer:)``.
    public func remembered(_ patient: ScanReport.Patient, matcher: PatientMatcher = PatientMatcher()) throws -> Remembered? {
        guard let store, let id = patient.patientID, !id.isEmpty,
              let mapping = try store.mapping(foreignIssuer: patient.issuerOfPatientID, foreignID: id) else { return nil }
        var known = mapping.foreignPatient
        if known == nil, let local = try store.patients(patientID: mapping.localID)
            .first(where: { ($0.issuerOfPatientID ?? "") == (mapping.localIssuer ?? "") }) {
            known = RegisteredPatient(patientID: local.patientID, issuer: local.issuerOfPatientID, personName: local.patientName,
                                      birthDate: local.birthDate, sex: local.sex)
        }
        let withIssuer = !(patient.issuerOfPatientID ?? "").isEmpty
        if let why = matcher.whyNotRemembered(PatientQuery(patient), for: known, withIssuer: withIssuer) {
            return .notThisPatient(mapping, why: why)
        }
        return .applies(mapping)
    }

    /// The identity to file under for a local Patient ID: with the
    /// registry's name, birth date and sex when the registry has the patient
    /// (and `demographics` is true), else the ID (and issuer) alone.
    ///
    /// - Throws: ``DecisionError`` when the ID or issuer is not a valid
    ///   LO value (``LocalPatientIdentifier``).
    public func localIdentity(patientID: String, issuer: String?, demographics: Bool = true) throws
        -> (identity: LocalIdentity, registered: RegisteredPatient?) {
        for (value, name) in [(patientID, "local Patient ID"), (issuer, "issuer")] {
            if let value, let problem = LocalPatientIdentifier.problem(value, name: name) { throw DecisionError(problem) }
        }
        guard let entry = try registryEntry(patientID: patientID, issuer: issuer) else {
            return (LocalIdentity(patientID: patientID, issuerOfPatientID: issuer), nil)
        }
        let identity = LocalIdentity(entry)
        return (demographics ? identity : identity.withoutDemographics, entry)
    }

    /// The registry's entry for a local Patient ID: the one with this
    /// issuer, or (no issuer given) the only one with the ID.
    func registryEntry(patientID: String, issuer: String?) throws -> RegisteredPatient? {
        let entries = try store?.registry(patientID: patientID) ?? []
        return entries.first { ($0.issuer ?? "") == (issuer ?? "") } ?? (issuer == nil && entries.count == 1 ? entries[0] : nil)
    }

    /// Who the local patient of an assignment is, to hold the medium's
    /// patient against: the demographics the instances will be given (the
    /// registry's or the candidate's that was chosen), else the registry's
    /// entry (`--keep-demographics`), else the patient as the store has it;
    /// nil when nothing is known about them.
    public func localPatient(_ identity: LocalIdentity) throws -> RegisteredPatient? {
        if identity.patientName != nil || identity.birthDate != nil || identity.sex != nil {
            return RegisteredPatient(patientID: identity.patientID, issuer: identity.issuerOfPatientID,
                                     personName: identity.patientName, birthDate: identity.birthDate, sex: identity.sex)
        }
        if let entry = try registryEntry(patientID: identity.patientID, issuer: identity.issuerOfPatientID) { return entry }
        let records = try store?.patients(patientID: identity.patientID) ?? []
        let issuer = identity.issuerOfPatientID ?? ""
        guard let record = records.first(where: { ($0.issuerOfPatientID ?? "") == issuer }) else { return nil }
        return RegisteredPatient(patientID: record.patientID, issuer: record.issuerOfPatientID, personName: record.patientName,
                                 birthDate: record.birthDate, sex: record.sex)
    }

    /// The row of a mapping file that names this patient, if any.
    public func mapping(_ patient: ScanReport.Patient, in rows: [IdentityMapping]) -> IdentityMapping? {
        guard let id = patient.patientID, !id.isEmpty else { return nil }
        return rows.first { $0.foreignID == id && ($0.foreignIssuer == nil || $0.foreignIssuer == patient.issuerOfPatientID) }
    }

    /// Remembers the assignments of a finished import, so the next disc
    /// from the same hospital maps by itself (the import shows it). The
    /// patients in `except` are left as they were: some of their instances
    /// are stored under another patient, so this run's decision for them
    /// contradicts the store (a split patient, were it remembered).
    func remember(_ plan: ImportPlan, summary: ImportSummary, importID: Int64?, except: Set<Int> = []) throws {
        guard let store else { return }
        for (index, patient) in plan.report.patients.enumerated() where !except.contains(index) {
            guard case .assign(let identity) = plan.decisions[index], let how = plan.decidedBy[index],
                  let foreignID = patient.patientID, !foreignID.isEmpty else { continue }
            let counts = summary.patients[index].counts
            guard counts.stored + counts.adopted + counts.duplicates > 0 else { continue }
            try store.remember(IdentityMapping(foreignIssuer: patient.issuerOfPatientID, foreignID: foreignID,
                                               localID: identity.patientID, localIssuer: identity.issuerOfPatientID,
                                               how: how.rawValue, foreignName: patient.name,
                                               foreignBirthDate: patient.birthDate, foreignSex: patient.sex), importID: importID)
        }
    }
}
