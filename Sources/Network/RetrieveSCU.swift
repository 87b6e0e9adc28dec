#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DICOM
import Foundation
import NIOCore
import Synchronization

/// What a C-GET or C-MOVE achieved (PS3.4 C.4.2/C.4.3): the final
/// status and sub-operation counts.
public struct RetrieveResult: Sendable, Codable {
    public var status: String
    public var completed = 0
    public var failed = 0
    public var warning = 0
    /// Instances this side received and stored (C-GET), with their statuses.
    public var received = 0
    /// C-GET: storage SOP classes proposed on the association (SCP role).
    public var storageClasses: Int?
    /// The peer's Failed SOP Instance UID List (0008,0058), when it gave one.
    public var failedInstances: [String] = []
    public var errors: [String] = []

    public var isSuccess: Bool { status == DIMSEStatus.success.hex && failed == 0 }

    public init(status: String) {
        self.status = status
    }
}

/// C-GET and C-MOVE as service class user.
public enum RetrieveSCU {
    /// Storage SOP classes proposed (SCP role) for C-GET sub-operations: the
    /// common modalities and documents, within the 128 contexts allowed.
    public static let getStorageClasses: [String] = [
        "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",
        "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1", "1.2.840.10008.5.1.4.1.1.1.3",
        "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.3.1",
        "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.6.1",
        "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4", "1.2.840.10008.5.1.4.1.1.12.1",
        "1.2.840.10008.5.1.4.1.1.12.2", "1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.77.1.4",
        "1.2.840.10008.5.1.4.1.1.77.1.1", "1.2.840.10008.5.1.4.1.1.77.1.5.1", "1.2.840.10008.5.1.4.1.1.88.11",
        "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.59",
        "1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.11.1",
        "1.2.840.10008.5.1.4.1.1.481.1", "1.2.840.10008.5.1.4.1.1.481.2", "1.2.840.10008.5.1.4.1.1.481.3",
        "1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.66",
    ]

    static let compressed: [String] = [
        TransferSyntax.jpegBaseline.uid, TransferSyntax.jpegExtended.uid, TransferSyntax.jpegLosslessSV1.uid,
        TransferSyntax.jpegLossless.uid, TransferSyntax.jpegLSLossless.uid, TransferSyntax.jpegLSNearLossless.uid,
        TransferSyntax.jpeg2000Lossless.uid, TransferSyntax.jpeg2000.uid, TransferSyntax.rleLossless.uid,
    ]

    /// The presentation contexts of a C-GET association (PS3.8 §9.3.2.2:
    /// at most 128, odd ids 1–255): the query model, then for each storage
    /// class up to three (explicit, implicit, the compressed syntaxes) so
    /// the peer can send each instance in the syntax it has it in — fewer
    /// per class when there are many classes, and at most 127 classes (the
    /// rest are returned in `left`).
    public static func getContexts(model: String, storageClasses: [String])
        -> (contexts: [PresentationContextProposal], roles: [RoleSelection], left: [String]) {
        var classes: [String] = []
        var seen = Set<String>()
        for uid in storageClasses where seen.insert(uid).inserted { classes.append(uid) }
        let room = 127
        let taken = Array(classes.prefix(room))
        let perClass = max(1, min(3, room / max(1, taken.count)))
        let syntaxSets: [[String]] = switch perClass {
        case 3: [[StoreSCU.native[0]], [StoreSCU.native[1]], compressed]
        case 2: [StoreSCU.native, compressed]
        default: [StoreSCU.native + compressed]
        }
        var contexts = [PresentationContextProposal(id: 1, abstractSyntax: model, transferSyntaxes: StoreSCU.native)]
        var roles: [RoleSelection] = []
        for sopClass in taken {
            for syntaxes in syntaxSets {
                contexts.append(PresentationContextProposal(id: UInt8(contexts.count * 2 + 1), abstractSyntax: sopClass,
                                                            transferSyntaxes: syntaxes))
            }
            roles.append(RoleSelection(sopClassUID: sopClass, scuRole: false, scpRole: true))
        }
        return (contexts, roles, Array(classes.dropFirst(room)))
    }

    /// C-GET: asks the peer to send the matching instances back on this
    /// association; each goes to `store`, answered with its status.
    /// `storageClasses`: the SOP classes to receive (SCP role), best those
    /// the query found; default ``getStorageClasses``. Instances of a class
    /// not negotiated cannot come on this association: the peer counts them
    /// as failed sub-operations, and the result names the classes refused
    /// or not proposed.
    public static func get(_ query: FindQuery, parameters: AssociationParameters, spoolDirectory: String,
                           storageClasses: [String] = getStorageClasses,
                           store: @escaping DICOMServer.Store) async throws -> RetrieveResult {
        let model = query.model == .patientRoot ? UIDs.patientRootGet : UIDs.studyRootGet
        let (contexts, roles, left) = getContexts(model: model, storageClasses: storageClasses)
        let association = try await Association.request(parameters, contexts: contexts, roleSelections: roles)
        guard let context = association.contexts(for: model).first else {
            try? await association.release()
            throw NetworkError.noAcceptedContext("\(UIDRegistry.name(for: model) ?? model)")
        }
        let proposed = Set(contexts.dropFirst().map(\.abstractSyntax))
        let refused = proposed.filter { association.contexts(for: $0).isEmpty }
        var result = try await retrieve(.cGetRQ, query: query, sopClass: model, context: context, on: association,
                                        spoolDirectory: spoolDirectory, store: store)
        result.storageClasses = proposed.count
        if result.failed > 0 || !left.isEmpty {
            let name = { (uid: String) in UIDRegistry.name(for: uid) ?? uid }
            if !refused.isEmpty {
                result.errors.append("SOP classes refused by the peer for C-GET (their instances cannot be received on this association): \(refused.sorted().map(name).joined(separator: ", "))")
            }
            if !left.isEmpty {
                result.errors.append("SOP classes not negotiated (more than 127 on one association): \(left.map(name).joined(separator: ", "))")
            }
        }
        return result
    }

    /// C-MOVE: asks the peer to send the matching instances to
    /// `destination` (an AE title the peer knows; discport's own SCP while
    /// this runs).
    public static func move(_ query: FindQuery, parameters: AssociationParameters, destination: String) async throws -> RetrieveResult {
        let model = query.model == .patientRoot ? UIDs.patientRootMove : UIDs.studyRootMove
        let association = try await Association.request(parameters, contexts: [
            PresentationContextProposal(id: 1, abstractSyntax: model, transferSyntaxes: StoreSCU.native),
        ])
        guard let context = association.contexts(for: model).first else {
            try? await association.release()
            throw NetworkError.noAcceptedContext("\(UIDRegistry.name(for: model) ?? model)")
        }
        return try await retrieve(.cMoveRQ, query: query, sopClass: model, context: context, on: association,
                                  destination: destination, spoolDirectory: nil, store: nil)
    }

    private static func retrieve(_ field: CommandField, query: FindQuery, sopClass: String,
                                 context: (id: UInt8, transferSyntax: String), on association: Association,
                                 destination: String? = nil, spoolDirectory: String?,
                                 store: DICOMServer.Store?) async throws -> RetrieveResult {
        do {
            var identifierQuery = query
            identifierQuery.returnKeys = false
            let identifier = try DICOMWriter.encode(try identifierQuery.identifier(), transferSyntax: TransferSyntax(uid: context.transferSyntax))
            let messageID = association.nextMessageID()
            var command = DIMSECommand(field, hasDataset: true)
            command.setUID(sopClass, .affectedSOPClassUID)
            command.messageID = messageID
            command.dataset.setIntegers([0], vr: .US, for: .priority)
            if let destination { try? command.dataset.setString(destination, vr: .AE, for: .moveDestination) }
            try await association.send(command, dataset: .data(identifier), contextID: context.id)
            var result = RetrieveResult(status: "")
            var counter = 0
            // Sub-operations can take long (the peer reads its archive):
            // the read timeout applies to each message, not the whole retrieve.
            while true {
                let (contextID, message) = try await association.receiveCommand()
                switch message.field {
                case .cStoreRQ where field == .cGetRQ:
                    counter += 1
                    let path = (spoolDirectory ?? NSTemporaryDirectory()) + "/discport-get-\(getpid())-\(counter).dcm"
                    let (status, comment) = try await association.receiveStoredInstance(message, contextID: contextID, spoolPath: path) { instance in
                        await store?(instance) ?? (.success, nil)
                    }
                    result.received += 1
                    if !status.isDone { result.errors.append("\(message.affectedSOPInstanceUID ?? "?"): \(status)\(comment.map { ": \($0)" } ?? "")") }
                case .cGetRSP, .cMoveRSP:
                    guard message.messageIDBeingRespondedTo == messageID, let status = message.status else {
                        throw NetworkError.protocolError("unexpected response to message \(message.messageIDBeingRespondedTo ?? 0)")
                    }
                    if message.hasDataset {
                        let data = try await association.receiveDatasetData(contextID: contextID)
                        let identifier = try? DICOMFile(datasetData: data, transferSyntax: TransferSyntax(uid: association.context(contextID)?.transferSyntax ?? TransferSyntax.implicitVRLittleEndian.uid))
                        if let failed = identifier?.dataset.strings(Tag(0x0008, 0x0058)) {
                            result.failedInstances = failed.map(UID.trimmed).filter { !$0.isEmpty }
                        }
                    }
                    func count(_ tag: Tag) -> Int { message.dataset.integer(tag) ?? 0 }
                    result.completed = count(.numberOfCompletedSuboperations)
                    result.failed = count(.numberOfFailedSuboperations)
                    result.warning = count(.numberOfWarningSuboperations)
                    if status.kind == .pending { continue }
                    result.status = status.hex
                    if !status.isDone {
                        result.errors.append("\(field == .cGetRQ ? "C-GET" : "C-MOVE") failed: \(status)\(message.errorComment.map { " (\($0))" } ?? "")")
                    }
                    try await association.release()
                    return result
                default:
                    await association.abort(.unexpectedPDU)
                    throw NetworkError.protocolError("unexpected \(message.field?.name ?? "command") during a retrieve")
                }
            }
        } catch {
            if association.isOpen { await association.abort() }
            throw error
        }
    }
}

extension Association {
    /// Receives the data set of a C-STORE-RQ into `spoolPath`, lets `store`
    /// take it, answers with its status (the spool file is removed after).
    func receiveStoredInstance(_ command: DIMSECommand, contextID: UInt8, spoolPath path: String,
                               store: (ReceivedInstance) async -> (DIMSEStatus, String?)) async throws -> (DIMSEStatus, String?) {
        let context = self.context(contextID)!
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var writeError: String?
        if fd < 0 { writeError = "cannot write the spool file \(path): \(String(cString: strerror(errno)))" }
        var size = 0
        do {
            try await receiveDataset(contextID: contextID) { buffer in
                size += buffer.readableBytes
                guard fd >= 0, writeError == nil else { return }
                buffer.withUnsafeReadableBytes { raw in
                    var done = 0
                    while done < raw.count {
                        let n = write(fd, raw.baseAddress! + done, raw.count - done)
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { writeError = "spool write failed: \(String(cString: strerror(errno)))"; return }
                        done += n
                    }
                }
            }
        } catch {
            if fd >= 0 { close(fd) }
            unlink(path)
            throw error
        }
        if fd >= 0 { close(fd) }
        defer { unlink(path) }
        let peer = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let instance = ReceivedInstance(
            spoolPath: path, sopClassUID: command.affectedSOPClassUID ?? context.abstractSyntax,
            sopInstanceUID: command.affectedSOPInstanceUID ?? "", transferSyntax: TransferSyntax(uid: context.transferSyntax),
            callingAE: role == .acceptor ? request.callingAE : request.calledAE,
            calledAE: role == .acceptor ? request.calledAE : request.callingAE, peer: peer, size: size)
        let status: DIMSEStatus
        let message: String?
        if let writeError {
            (status, message) = (.outOfResources, writeError)
        } else if instance.sopClassUID != context.abstractSyntax {
            (status, message) = (.dataSetMismatch, "SOP class \(instance.sopClassUID) sent on a context for \(context.abstractSyntax)")
        } else {
            (status, message) = await store(instance)
        }
        try await send(.response(to: command, field: .cStoreRSP, status: status, errorComment: status.isDone ? nil : message),
                       contextID: contextID)
        return (status, message)
    }
}
