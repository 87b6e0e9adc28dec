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

    /// The decision remembered for this patient's foreign (issuer, ID).
    public func remembered(_ patient: ScanReport.Patient) throws -> IdentityMapping? {
        guard let store, let id = patient.patientID, !id.isEmpty else { return nil }
        return try store.mapping(foreignIssuer: patient.issuerOfPatientID, foreignID: id)
    }

    /// The identity to file under for a local Patient ID: with the
    /// registry's name, birth date and sex when the registry has the patient
    /// (and `demographics` is true), else the ID (and issuer) alone.
    public func localIdentity(patientID: String, issuer: String?, demographics: Bool = true) throws
        -> (identity: LocalIdentity, registered: RegisteredPatient?) {
        let entries = try store?.registry(patientID: patientID) ?? []
        let entry = entries.first { ($0.issuer ?? "") == (issuer ?? "") } ?? (issuer == nil && entries.count == 1 ? entries[0] : nil)
        guard let entry else {
            return (LocalIdentity(patientID: patientID, issuerOfPatientID: issuer), nil)
        }
        let identity = LocalIdentity(entry)
        return (demographics ? identity : identity.withoutDemographics, entry)
    }

    /// The row of a mapping file that names this patient, if any.
    public func mapping(_ patient: ScanReport.Patient, in rows: [IdentityMapping]) -> IdentityMapping? {
        guard let id = patient.patientID, !id.isEmpty else { return nil }
        return rows.first { $0.foreignID == id && ($0.foreignIssuer == nil || $0.foreignIssuer == patient.issuerOfPatientID) }
    }

    /// Remembers the assignments of a finished import, so the next disc
    /// from the same hospital maps by itself (the import shows it).
    func remember(_ plan: ImportPlan, summary: ImportSummary, importID: Int64?) throws {
        guard let store else { return }
        for (index, patient) in plan.report.patients.enumerated() {
            guard case .assign(let identity) = plan.decisions[index], let how = plan.decidedBy[index],
                  let foreignID = patient.patientID, !foreignID.isEmpty else { continue }
            let counts = summary.patients[index].counts
            guard counts.stored + counts.adopted + counts.duplicates > 0 else { continue }
            try store.remember(IdentityMapping(foreignIssuer: patient.issuerOfPatientID, foreignID: foreignID,
                                               localID: identity.patientID, localIssuer: identity.issuerOfPatientID,
                                               how: how.rawValue), importID: importID)
        }
    }
}
