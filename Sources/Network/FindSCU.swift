import DICOM
import Foundation
import Reconcile

/// A C-FIND query (PS3.4 Annex C, K): information model, level, matching
/// keys and the keys to return.
public struct FindQuery: Sendable {
    public enum Model: String, Sendable, CaseIterable {
        case patientRoot = "patient-root"
        case studyRoot = "study-root"
        case modalityWorklist = "worklist"

        public var sopClassUID: String {
            switch self {
            case .patientRoot: return UIDs.patientRootFind
            case .studyRoot: return UIDs.studyRootFind
            case .modalityWorklist: return UIDs.modalityWorklistFind
            }
        }
    }

    public enum Level: String, Sendable, CaseIterable {
        case patient = "PATIENT", study = "STUDY", series = "SERIES", image = "IMAGE"
    }

    public var model: Model
    /// nil for the worklist (it has no levels).
    public var level: Level?
    /// Matching values by tag ("" = universal matching: return the key).
    public var keys: [(tag: Tag, value: String)]
    /// (0008,0005) of the identifier: how non-ASCII keys are encoded and
    /// what the peer is asked to answer in. `["ISO_IR 192"]`,
    /// `["", "ISO 2022 IR 87"]`; empty: ASCII only.
    public var characterSet: [String]
    /// Add the level's default return keys (C-FIND); C-GET and C-MOVE
    /// identifiers carry only the level and the unique keys.
    public var returnKeys = true

    public init(model: Model, level: Level?, keys: [(tag: Tag, value: String)] = [], characterSet: [String] = []) {
        self.model = model
        self.level = level
        self.keys = keys
        self.characterSet = characterSet
    }

    /// The keys each level returns by default (PS3.4 C.6 required and
    /// common optional keys).
    public static func defaultReturnKeys(_ level: Level) -> [Tag] {
        switch level {
        case .patient:
            return [.patientName, .patientID, .issuerOfPatientID, .patientBirthDate, .patientSex,
                    Tag(0x0020, 0x1200)]   // Number of Patient Related Studies
        case .study:
            return [.patientName, .patientID, .patientBirthDate, .patientSex, .studyInstanceUID, .studyDate, .studyTime,
                    .accessionNumber, .studyID, .studyDescription, Tag(0x0008, 0x0061), Tag(0x0020, 0x1208)]
        case .series:
            return [.studyInstanceUID, .seriesInstanceUID, .modality, .seriesNumber, .seriesDescription,
                    Tag(0x0020, 0x1209)]   // Number of Series Related Instances
        case .image:
            return [.studyInstanceUID, .seriesInstanceUID, .sopInstanceUID, .sopClassUID, .instanceNumber]
        }
    }

    /// The identifier: level, character set, every return key (empty) and
    /// the matching values encoded in the character set.
    public func identifier() throws -> Dataset {
        var ds = Dataset()
        if !characterSet.isEmpty {
            try ds.setStrings(characterSet, vr: .CS, for: .specificCharacterSet)
        }
        if let level {
            try ds.setString(level.rawValue, vr: .CS, for: Tag(0x0008, 0x0052))
            for tag in FindQuery.defaultReturnKeys(level) where returnKeys && !ds.contains(tag) {
                ds.set(DataElement(tag: tag, vr: DataDictionary.vr(for: tag) ?? .LO, bytes: Data()))
            }
        }
        if model == .modalityWorklist {
            return try worklistIdentifier(ds)
        }
        for (tag, value) in keys {
            try FindQuery.setKey(&ds, tag, value)
        }
        return ds
    }

    static func setKey(_ ds: inout Dataset, _ tag: Tag, _ value: String) throws {
        let vr = DataDictionary.vr(for: tag) ?? .LO
        if value.isEmpty {
            ds.set(DataElement(tag: tag, vr: vr, bytes: Data()))
        } else {
            try ds.setString(value, vr: vr, for: tag)
        }
    }

    /// Keys of the Scheduled Procedure Step item (PS3.4 K.6.1.2.2); every
    /// other key goes to the top level.
    static let scheduledStepKeys: Set<Tag> = [.modality, .scheduledStationAETitle, .scheduledProcedureStepStartDate,
                                              .scheduledProcedureStepStartTime, .scheduledProcedureStepDescription,
                                              .scheduledProcedureStepID]

    /// The Modality Worklist identifier: patient, visit and requested
    /// procedure keys at the top level, the scheduled step's in one item
    /// of Scheduled Procedure Step Sequence; every return key present.
    private func worklistIdentifier(_ base: Dataset) throws -> Dataset {
        var ds = base
        var step = Dataset()
        step.inheritedCharacterSet = ds.characterSet
        for tag in FindQuery.scheduledStepKeys.sorted() { try FindQuery.setKey(&step, tag, "") }
        for tag in [Tag.patientName, .patientID, .issuerOfPatientID, .patientBirthDate, .patientSex, .accessionNumber,
                    .studyInstanceUID, .requestedProcedureDescription, Tag(0x0040, 0x1001)] {   // Requested Procedure ID
            try FindQuery.setKey(&ds, tag, "")
        }
        for (tag, value) in keys {
            if FindQuery.scheduledStepKeys.contains(tag) {
                try FindQuery.setKey(&step, tag, value)
            } else {
                try FindQuery.setKey(&ds, tag, value)
            }
        }
        ds.setSequence([step], for: .scheduledProcedureStepSequence, undefinedLength: false)
        return ds
    }
}

/// A C-FIND failure status from the peer.
public struct FindFailure: Error, Sendable, CustomStringConvertible {
    public var status: DIMSEStatus
    public var comment: String?
    public var description: String { "C-FIND failed: \(status)" + (comment.map { " (\($0))" } ?? "") }
}

/// C-FIND as service class user.
public enum FindSCU {
    /// Sends the query and collects every pending response's identifier.
    /// `limit`: after that many matches a C-CANCEL-RQ is sent.
    public static func find(_ query: FindQuery, parameters: AssociationParameters, limit: Int? = nil) async throws -> [Dataset] {
        let association = try await Association.request(parameters, contexts: [
            PresentationContextProposal(id: 1, abstractSyntax: query.model.sopClassUID,
                                        transferSyntaxes: [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid]),
        ])
        guard let context = association.contexts(for: query.model.sopClassUID).first else {
            try? await association.release()
            throw NetworkError.noAcceptedContext("\(UIDRegistry.name(for: query.model.sopClassUID) ?? query.model.sopClassUID)")
        }
        let syntax = TransferSyntax(uid: context.transferSyntax)
        do {
            let identifier = try DICOMWriter.encode(try query.identifier(), transferSyntax: syntax)
            let messageID = association.nextMessageID()
            try await association.send(.findRQ(messageID: messageID, sopClassUID: query.model.sopClassUID),
                                       dataset: .data(identifier), contextID: context.id)
            var results: [Dataset] = []
            var cancelled = false
            while true {
                let (contextID, response) = try await association.receiveCommand()
                guard response.field == .cFindRSP, response.messageIDBeingRespondedTo == messageID,
                      let status = response.status else {
                    await association.abort(.unexpectedPDU)
                    throw NetworkError.protocolError("expected C-FIND-RSP to message \(messageID)")
                }
                var data: Data?
                if response.hasDataset {
                    data = try await association.receiveDatasetData(contextID: contextID)
                }
                switch status.kind {
                case .pending:
                    if let data, !cancelled {
                        var identifier = try DICOMFile(datasetData: data, transferSyntax: syntax, options: ReadOptions(lenient: true)).dataset
                        // An answer without (0008,0005) (DCMTK wlmscpfs by default) is
                        // read in the character set the query declared.
                        if !identifier.contains(.specificCharacterSet), !query.characterSet.isEmpty {
                            identifier.inheritedCharacterSet = SpecificCharacterSet(lenientTerms: query.characterSet)
                        }
                        results.append(identifier)
                    }
                    if let limit, results.count >= limit, !cancelled {
                        cancelled = true
                        try await association.send(.cancelRQ(respondingTo: messageID), contextID: context.id)
                    }
                case .success, .cancel, .warning:
                    try await association.release()
                    return results
                case .failure:
                    try? await association.release()
                    throw FindFailure(status: status, comment: response.errorComment)
                }
            }
        } catch {
            if association.isOpen { await association.abort() }
            throw error
        }
    }
}

/// Reconciliation candidates from the PACS: a C-FIND at PATIENT level of
/// the patient root model. Narrowed by birth date when the disc has one
/// (an exact match must share it); otherwise every patient is asked for,
/// up to `limit`, because dropping the right one would be worse than a
/// long list.
public struct NetworkCandidates: CandidateSource {
    public var parameters: AssociationParameters
    /// What the identifier declares (and the peer is asked to answer in).
    public var characterSet: [String]
    public var limit: Int

    public init(parameters: AssociationParameters, characterSet: [String] = ["ISO_IR 192"], limit: Int = 500) {
        self.parameters = parameters
        self.characterSet = characterSet
        self.limit = limit
    }

    public func candidates(for query: PatientQuery) throws -> [RegisteredPatient] {
        var keys: [(tag: Tag, value: String)] = []
        if let birthDate = query.birthDate, birthDate.count == 8, birthDate.allSatisfy(\.isNumber) {
            keys.append((.patientBirthDate, birthDate))
        }
        let findQuery = FindQuery(model: .patientRoot, level: .patient, keys: keys, characterSet: characterSet)
        let parameters = self.parameters
        let limit = self.limit
        let found = try runBlocking { try await FindSCU.find(findQuery, parameters: parameters, limit: limit) }
        return found.compactMap(NetworkCandidates.patient(from:))
    }

    /// A registry-like patient from a C-FIND identifier.
    public static func patient(from ds: Dataset) -> RegisteredPatient? {
        guard let id = ds.firstString(.patientID) else { return nil }
        let name = PersonName(ds.string(.patientName) ?? "")
        func group(_ g: PersonName.Group) -> String? {
            let text = name[g]
            return text.isEmpty ? nil : text
        }
        return RegisteredPatient(patientID: id, issuer: ds.firstString(.issuerOfPatientID),
                                 alphabetic: group(.alphabetic), ideographic: group(.ideographic), phonetic: group(.phonetic),
                                 birthDate: ds.firstString(.patientBirthDate), sex: ds.firstString(.patientSex))
    }
}

/// Reconciliation candidates from the Modality Worklist: the patients
/// scheduled on `date` (YYYYMMDD; a range `D1-D2` works too) for a station,
/// as the worklist server lists them. For scheduled imports, where the
/// worklist says who is expected today.
public struct WorklistCandidates: CandidateSource {
    public var parameters: AssociationParameters
    public var date: String?
    public var stationAETitle: String?
    public var characterSet: [String]

    public init(parameters: AssociationParameters, date: String? = nil, stationAETitle: String? = nil,
                characterSet: [String] = ["ISO_IR 192"]) {
        self.parameters = parameters
        self.date = date
        self.stationAETitle = stationAETitle
        self.characterSet = characterSet
    }

    public func candidates(for query: PatientQuery) throws -> [RegisteredPatient] {
        var keys: [(tag: Tag, value: String)] = []
        if let date { keys.append((.scheduledProcedureStepStartDate, date)) }
        if let stationAETitle { keys.append((.scheduledStationAETitle, stationAETitle)) }
        let findQuery = FindQuery(model: .modalityWorklist, level: nil, keys: keys, characterSet: characterSet)
        let parameters = self.parameters
        let found = try runBlocking { try await FindSCU.find(findQuery, parameters: parameters) }
        var seen = Set<RegisteredPatient>()
        return found.compactMap(NetworkCandidates.patient(from:)).filter { seen.insert($0).inserted }
    }
}
