import Media
import Reconcile
import Store

/// How the patients on a medium are to be decided (the import's options).
public struct IdentityOptions: Sendable {
    /// `--patient-id LOCAL`: the local patient of a one-patient medium.
    public var localPatientID: String?
    /// `--patient-id FOREIGN=LOCAL`: local patients by the medium's Patient ID.
    public var localPatientIDByForeignID: [String: String] = [:]
    /// Issuer written with an explicitly given local ID.
    public var issuer: String?
    /// Rows of a `--mapping` file.
    public var mappings: [IdentityMapping] = []
    /// `--as-is`: keep the medium's identity for patients decided no other way.
    public var keepAsIs = false
    /// `--auto`: accept a unique exact registry match.
    public var automatic = false
    /// Coerce name, birth date and sex to the registry's values (not only the ID).
    public var demographics = true
    /// Apply remembered decisions (shown) before anything else.
    public var useRemembered = true
    /// Where `--auto` and the interactive choice find candidates; nil: the
    /// catalog's registry (``RegistryCandidates``). `--candidates-from NODE`
    /// puts a PACS queried with C-FIND here (``NetworkCandidates``).
    public var candidates: (any CandidateSource)?

    public init() {}
}

/// What the job proposes for one patient of the medium.
public enum PatientProposal: Sendable {
    /// Decided without a person: apply it (the note says how, to show).
    case decided(PatientDecision, DecisionSource?, note: String?)
    /// A person must decide (on a terminal), or the patient is left out:
    /// the ranked candidates and why no decision was taken.
    case undecided(candidates: [PatientMatch], why: String)
}

/// A request that cannot be met (exit status 2 in the CLI).
public struct DecisionError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Candidates from the catalog's registry. Registries up to
/// ``wholeRegistryLimit`` entries are returned whole (so a typo in a birth
/// date still ranks the right patient near the top); larger ones are
/// narrowed to the disc's birth date, which never drops an exact match.
public struct RegistryCandidates: CandidateSource {
    public let store: InstanceStore
    public var wholeRegistryLimit = 20_000

    public init(store: InstanceStore) {
        self.store = store
    }

    public func candidates(for query: PatientQuery) throws -> [RegisteredPatient] {
        let all = try store.registry()
        if all.count <= wholeRegistryLimit { return all }
        guard let birthDate = query.birthDate, !birthDate.isEmpty else { return [] }
        return try store.registry(birthDate: birthDate)
    }
}

extension PatientQuery {
    /// What the scan found about a patient on the medium.
    public init(_ patient: ScanReport.Patient) {
        self.init(name: patient.name, birthDate: patient.birthDate, sex: patient.sex,
                  foreignPatientID: patient.patientID, foreignIssuer: patient.issuerOfPatientID)
    }
}

extension ImportJob {
    /// Proposes a decision for every patient of the plan, in this order:
    /// an explicit `--patient-id`, a `--mapping` row, a remembered decision
    /// (only when it was taken for this patient, see
    /// ``PatientResolver/remembered(_:matcher:)``; one taken for someone
    /// else with the same foreign ID is passed over, saying why),
    /// `--auto` (a unique exact registry match), `--as-is`; otherwise the
    /// patient is undecided, with its ranked candidates. Assigned local
    /// patients found in the registry bring their name, birth date and sex.
    ///
    /// - Throws: ``DecisionError`` when the options contradict the medium
    ///   (one local ID for several patients, a foreign ID not on it).
    public func propose(_ plan: ImportPlan, options: IdentityOptions,
                        matcher: PatientMatcher = PatientMatcher()) throws -> [PatientProposal] {
        let patients = plan.report.patients
        let resolver = PatientResolver(store: store)
        func listing() -> String {
            patients.map { "  \($0.patientID ?? "(no ID)")  \($0.name ?? "(no name)")  \($0.birthDate ?? "")  \($0.instanceCount) instance(s)" }
                .joined(separator: "\n")
        }
        func assign(_ localID: String, issuer: String?, _ how: DecisionSource, note: String?) throws -> PatientProposal {
            let (identity, registered) = try resolver.localIdentity(patientID: localID, issuer: issuer, demographics: options.demographics)
            var text = note
            if registered == nil, let store, try !store.registry().isEmpty {
                text = [note, "local patient \(localID) is not in the registry: only the Patient ID is coerced"]
                    .compactMap { $0 }.joined(separator: "; ")
            }
            return .decided(.assign(identity), how, note: text)
        }

        var explicit: [Int: String] = [:]
        if let local = options.localPatientID {
            guard patients.count == 1 else {
                throw DecisionError("the medium holds \(patients.count) patients; give --patient-id FOREIGN=LOCAL for each one to import (and --as-is to keep the others as they are):\n\(listing())")
            }
            explicit[0] = local
        }
        for (foreign, local) in options.localPatientIDByForeignID.sorted(by: { $0.key < $1.key }) {
            let matches = plan.patientIndex(sourcePatientID: foreign)
            guard !matches.isEmpty else {
                throw DecisionError("--patient-id \(foreign)=\(local): no patient with ID '\(foreign)' on the medium; it holds:\n\(listing())")
            }
            guard matches.count == 1 else {
                throw DecisionError("--patient-id \(foreign)=\(local): \(matches.count) different patients (by name) have ID '\(foreign)' on the medium; they must be imported separately:\n\(listing())")
            }
            explicit[matches[0]] = local
        }

        var proposals: [PatientProposal] = []
        for (index, patient) in patients.enumerated() {
            if let local = explicit[index] {
                proposals.append(try assign(local, issuer: options.issuer, .explicit, note: nil))
                continue
            }
            if let row = resolver.mapping(patient, in: options.mappings) {
                proposals.append(try assign(row.localID, issuer: row.localIssuer, .mappingFile,
                                            note: "mapping file: \(row.foreignID) → \(row.localID)"))
                continue
            }
            if !options.mappings.isEmpty && !options.keepAsIs {
                proposals.append(.decided(.skip, nil, note: "not in the mapping file: not imported"))
                continue
            }
            // A remembered decision taken for someone else with this ID is
            // not applied: the patient is decided as if none were
            // remembered, and every note says why.
            var notRemembered: String?
            func noting(_ text: String) -> String {
                notRemembered.map { "\($0); \(text)" } ?? text
            }
            if options.useRemembered, let remembered = try resolver.remembered(patient, matcher: matcher) {
                switch remembered {
                case .applies(let mapping):
                    proposals.append(try assign(mapping.localID, issuer: mapping.localIssuer, .remembered,
                                                note: "remembered: \(mapping.foreignLabel) → \(mapping.localID), decided \(mapping.how) by \(mapping.operatorName) at \(mapping.decidedAt)"))
                    continue
                case .notThisPatient(let mapping, let why):
                    notRemembered = "the decision remembered for \(mapping.foreignLabel) (→ \(mapping.localID)) is not applied: \(why)"
                }
            }
            if !explicit.isEmpty && !options.keepAsIs {
                proposals.append(.decided(.skip, nil, note: noting("not mapped by --patient-id: not imported")))
                continue
            }
            let query = PatientQuery(patient)
            let source: (any CandidateSource)? = options.candidates ?? store.map { RegistryCandidates(store: $0) }
            if options.automatic, let source {
                let decision = try matcher.automatic(query, from: source)
                if let match = decision.accepted {
                    var identity = LocalIdentity(match.candidate)
                    if !options.demographics { identity = identity.withoutDemographics }
                    proposals.append(.decided(.assign(identity), .automatic,
                                              note: noting("\(decision.summary): \(match.reasons.map(\.detail).joined(separator: "; "))")))
                    continue
                }
                if !options.keepAsIs {
                    let candidates: [PatientMatch]
                    switch decision {
                    case .ambiguous(let matches), .noMatch(let matches): candidates = matches
                    case .unique(let match): candidates = [match]
                    }
                    proposals.append(.undecided(candidates: candidates, why: noting(decision.summary)))
                    continue
                }
            }
            if options.keepAsIs {
                if (patient.patientID ?? "").isEmpty {
                    proposals.append(.decided(.skip, nil, note: "no Patient ID on the medium; give it one with --patient-id (not imported)"))
                } else {
                    proposals.append(.decided(.keepSourceIdentity, nil, note: notRemembered))
                }
                continue
            }
            let ranked = try source.map { try matcher.rank(query, from: $0) } ?? []
            proposals.append(.undecided(candidates: Array(ranked.prefix(matcher.closestLimit)),
                                        why: noting(ranked.isEmpty ? "the registry is empty" : "no decision was given")))
        }
        return proposals
    }
}
