import DICOM
import Foundation
import Reconcile
import Store

/// Corrects a mistaken import: files a stored study under another local
/// patient. Every instance is rewritten the way an import coerces it (a new
/// Original Attributes item, the previous identity kept, pixel data
/// untouched), then the study is moved in the catalog with the decisions
/// remembered for its foreign identities; all audited.
///
/// Safe to run again after an interruption: instances already carrying the
/// new identity are only checked (their catalog hash refreshed if a crash
/// came between rename and commit), the rest are rewritten.
public struct ReassignJob: Sendable {
    public let store: InstanceStore

    public init(store: InstanceStore) {
        self.store = store
    }

    public struct Summary: Sendable, Codable {
        public var studyInstanceUID: String
        public var previousPatientIDs: [String]
        public var patientID: String
        /// Instances rewritten now.
        public var rewritten: Int
        /// Instances that had the new identity already (an earlier, interrupted run).
        public var alreadyDone: Int
        public var failures: [String]
        /// The remembered decisions that moved with the study (foreign
        /// identity → the new local patient), so later discs follow the correction.
        public var movedDecisions: [IdentityMapping] = []
    }

    /// Reassigns `studyInstanceUID` to `identity`.
    /// - Throws: when the ID or issuer is not a valid LO value, the study is
    ///   not in the store, or the catalog fails.
    public func run(study studyInstanceUID: String, to identity: LocalIdentity, reason: String = "reassign",
                    progress: @Sendable (String) -> Void = { _ in }) throws -> Summary {
        for (value, name) in [(identity.patientID, "local Patient ID"), (identity.issuerOfPatientID, "issuer")] {
            if let value, let problem = LocalPatientIdentifier.problem(value, name: name) {
                throw StoreError(.invalidInput, problem)
            }
        }
        let uid = UID.trimmed(studyInstanceUID)
        let studies = try store.studies().filter { $0.studyInstanceUID == uid }
        guard let study = studies.first else {
            throw StoreError(.invalidInput, "no study \(uid) in the store")
        }
        // A correction: the identity replaced is a mistaken local one.
        let coercion = IdentityCoercion(identity: identity, modificationDateTime: IdentityCoercion.dateTime(Date()), purpose: .correct)
        var summary = Summary(studyInstanceUID: uid, previousPatientIDs: [study.patientID], patientID: identity.patientID,
                              rewritten: 0, alreadyDone: 0, failures: [])
        var filedAs: InstanceSummary?
        // The identities the study came with (an import keeps the foreign
        // one in Other Patient IDs Sequence): their remembered decisions
        // move with it.
        var foreign: [String: (issuer: String?, patientID: String)] = [:]
        for series in try store.series(studyInstanceUID: uid) {
            for instance in try store.instances(seriesInstanceUID: series.seriesInstanceUID) {
                do {
                    let header = try DICOMFile(contentsOf: instance.path, options: .header)
                    for item in header.dataset.items(.otherPatientIDsSequence) {
                        guard let id = item.firstString(.patientID), !id.isEmpty else { continue }
                        let issuer = item.firstString(.issuerOfPatientID).flatMap { $0.isEmpty ? nil : $0 }
                        foreign[(issuer ?? "") + "\u{1F}" + id] = (issuer, id)
                    }
                    if let coerced = try coercion.apply(to: header, fileSize: Int(instance.size), path: instance.path) {
                        guard UID.trimmed(coerced.dataset.firstString(.sopInstanceUID) ?? "") == instance.sopInstanceUID else {
                            throw CoercionError("its SOP Instance UID is not valid; reassigning would change it", path: instance.path)
                        }
                        try store.rewrite(sopInstanceUID: instance.sopInstanceUID, header: coerced.header,
                                          replacedLength: coerced.replacedLength,
                                          changes: coerced.changes.map(\.description), reason: reason)
                        filedAs = InstanceSummary(file: DICOMFile(meta: header.meta, dataset: coerced.dataset,
                                                                  transferSyntax: header.transferSyntax))
                        summary.rewritten += 1
                        progress(instance.sopInstanceUID)
                    } else {
                        try store.refreshContentHash(sopInstanceUID: instance.sopInstanceUID, reason: "\(reason) (finishing an interrupted run)")
                        filedAs = filedAs ?? InstanceSummary(file: header)
                        summary.alreadyDone += 1
                    }
                } catch {
                    summary.failures.append("\(instance.path): \(error)")
                }
            }
        }
        if summary.failures.isEmpty, let filedAs {
            summary.movedDecisions = try store.moveStudy(uid, to: filedAs, reason: reason,
                                                         foreignIdentities: foreign.keys.sorted().compactMap { foreign[$0] })
        }
        return summary
    }
}
