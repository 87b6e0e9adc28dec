#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DICOM
import Foundation
import NIOCore
import Synchronization

/// One file to send with C-STORE: what its header says.
public struct StoreItem: Sendable, Hashable {
    public var path: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var transferSyntax: TransferSyntax
    /// Where the data set starts (after the file meta information; 0 for a raw data set).
    public var datasetOffset: Int
    public var fileSize: Int

    public init(path: String, sopClassUID: String, sopInstanceUID: String, transferSyntax: TransferSyntax,
                datasetOffset: Int, fileSize: Int) {
        self.path = path
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.transferSyntax = transferSyntax
        self.datasetOffset = datasetOffset
        self.fileSize = fileSize
    }

    /// Reads the header of a DICOM file (Part 10 or raw data set).
    public init(path: String) throws(DICOMError) {
        let header = try DICOMFile(contentsOf: path, options: .header)
        guard let sopClass = header.sopClassUID.map(UID.trimmed), !sopClass.isEmpty,
              let sopInstance = header.sopInstanceUID.map(UID.trimmed), !sopInstance.isEmpty else {
            throw DICOMError(.invalidValue, "no SOP Class or SOP Instance UID: cannot be sent", path: path)
        }
        self.init(path: path, sopClassUID: sopClass, sopInstanceUID: sopInstance, transferSyntax: header.transferSyntax,
                  datasetOffset: header.datasetOffset, fileSize: header.fileSize ?? 0)
    }
}

/// What happened to one instance sent with C-STORE.
public struct SendOutcome: Sendable {
    public var item: StoreItem
    /// The peer's C-STORE-RSP status; nil when none came.
    public var status: DIMSEStatus?
    /// Why the instance was not sent or not answered.
    public var error: String?
    /// The transfer syntax it travelled in (differs from the file's when converted).
    public var transferSyntaxUID: String?
    /// The peer's error comment, if any.
    public var errorComment: String?

    /// Stored by the peer (success or warning status).
    public var isDone: Bool { status?.isDone ?? false }
}

/// C-STORE as service class user (PS3.4 Annex B): sends files on one or
/// more associations, each file streamed from disk in PDV fragments.
public enum StoreSCU {
    static let native = [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid]

    /// Presentation contexts for a set of files: one per (SOP class,
    /// transfer syntax) found, so each file can travel exactly as stored,
    /// and for a SOP class without explicit VR little endian files one more
    /// with both native syntaxes: the lossless fallback when the peer
    /// refuses the files' own syntax.
    public static func proposals(for items: some Sequence<StoreItem>) -> [PresentationContextProposal] {
        var pairs: [(String, [String])] = []
        var seen = Set<String>()
        var classes: [String] = []
        for item in items {
            if seen.insert(item.sopClassUID).inserted { classes.append(item.sopClassUID) }
            let ts = item.transferSyntax.uid
            if seen.insert(item.sopClassUID + "|" + ts).inserted {
                pairs.append((item.sopClassUID, [ts]))
            }
        }
        for sopClass in classes where !seen.contains(sopClass + "|" + TransferSyntax.explicitVRLittleEndian.uid) {
            pairs.append((sopClass, native))
        }
        return pairs.enumerated().map { index, pair in
            PresentationContextProposal(id: UInt8(truncatingIfNeeded: index * 2 + 1), abstractSyntax: pair.0, transferSyntaxes: pair.1)
        }
    }

    /// How an item is sent on an association: its context and whether
    /// the data set must be converted (only between uncompressed syntaxes).
    static func plan(_ item: StoreItem, on association: Association) -> (contextID: UInt8, transferSyntax: String, convert: Bool)? {
        let accepted = association.contexts(for: item.sopClassUID)
        if let same = accepted.first(where: { $0.transferSyntax == item.transferSyntax.uid }) {
            return (same.id, same.transferSyntax, false)
        }
        // Lossless conversion: an uncompressed (or deflated, or big endian)
        // data set re-encoded in a native syntax.
        guard !item.transferSyntax.isEncapsulated else { return nil }
        for uid in native {
            if let context = accepted.first(where: { $0.transferSyntax == uid }) {
                return (context.id, uid, true)
            }
        }
        return nil
    }

    /// Sends one item on an open association and waits for its response.
    /// Throws only when the association itself failed.
    static func store(_ item: StoreItem, on association: Association) async throws -> SendOutcome {
        var outcome = SendOutcome(item: item)
        guard let plan = plan(item, on: association) else {
            let offered = association.contexts(for: item.sopClassUID).map(\.transferSyntax)
            outcome.error = offered.isEmpty
                ? "the peer does not accept SOP class \(UIDRegistry.name(for: item.sopClassUID) ?? item.sopClassUID)"
                : "the peer accepts \(offered.map { TransferSyntax(uid: $0).name }.joined(separator: ", ")) but not \(item.transferSyntax.name), and compressed data is never decompressed"
            return outcome
        }
        let payload: DatasetPayload
        if plan.convert {
            do {
                let file = try DICOMFile(contentsOf: item.path)
                payload = .data(try DICOMWriter.encode(file.dataset, transferSyntax: TransferSyntax(uid: plan.transferSyntax)))
            } catch {
                outcome.error = "cannot convert to \(TransferSyntax(uid: plan.transferSyntax).name): \(error)"
                return outcome
            }
        } else {
            guard let size = fileSize(item.path), size >= item.datasetOffset else {
                outcome.error = "cannot read \(item.path)"
                return outcome
            }
            payload = .file(path: item.path, offset: item.datasetOffset, length: size - item.datasetOffset)
        }
        outcome.transferSyntaxUID = plan.transferSyntax
        let messageID = association.nextMessageID()
        let request = DIMSECommand.storeRQ(messageID: messageID, sopClassUID: item.sopClassUID, sopInstanceUID: item.sopInstanceUID)
        do {
            try await association.send(request, dataset: payload, contextID: plan.contextID)
        } catch let error as Association.FileReadError {
            // The command went out, the data set could not be finished:
            // the association cannot continue.
            await association.abort()
            outcome.error = error.description
            throw NetworkError.aborted(.user)
        }
        let (_, response) = try await association.receiveCommand()
        guard response.field == .cStoreRSP, response.messageIDBeingRespondedTo == messageID else {
            await association.abort(.unexpectedPDU)
            throw NetworkError.protocolError("expected C-STORE-RSP to message \(messageID), got \(response.field?.name ?? "command \(response.rawField ?? -1)")")
        }
        outcome.status = response.status
        outcome.errorComment = response.errorComment
        return outcome
    }

    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// Sends `items` on `parallel` associations at once. Every item gets
    /// exactly one ``SendOutcome`` through `report` (from any task). When
    /// an association breaks, the item in flight fails and the next item
    /// opens a new one; when the peer cannot be reached, the items not yet
    /// taken fail with that error and no further attempt is made.
    public static func send(_ items: [StoreItem], parameters: AssociationParameters, parallel: Int = 1,
                            report: @escaping @Sendable (SendOutcome) -> Void) async {
        guard !items.isEmpty else { return }
        // Bundles of at most 128 presentation contexts (PS3.8 odd ids 1–255).
        var bundles: [[StoreItem]] = []
        var classes: [String: Int] = [:]
        var bundleOf: [Int] = []
        for item in items {
            if let b = classes[item.sopClassUID] {
                bundleOf.append(b)
                bundles[b].append(item)
                continue
            }
            if bundles.isEmpty || proposals(for: bundles[bundles.count - 1] + [item]).count > 128 {
                bundles.append([])
            }
            let b = bundles.count - 1
            classes[item.sopClassUID] = b
            bundleOf.append(b)
            bundles[b].append(item)
        }
        let ordered = bundles.enumerated().flatMap { index, bundle in bundle.map { (index, $0) } }
        let contexts = bundles.map { proposals(for: $0) }
        let queue = WorkQueue()

        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, min(parallel, ordered.count)) {
                group.addTask {
                    var association: Association?
                    var bundle = -1
                    while true {
                        let taken: (Int, StoreItem)? = queue.state.withLock { q in
                            guard q.unreachable == nil, q.next < ordered.count else { return nil }
                            defer { q.next += 1 }
                            return ordered[q.next]
                        }
                        guard let (itemBundle, item) = taken else { break }
                        if association != nil && bundle != itemBundle {
                            try? await association?.release()
                            association = nil
                        }
                        if association == nil {
                            do {
                                association = try await Association.request(parameters, contexts: contexts[itemBundle])
                                bundle = itemBundle
                            } catch {
                                let message = "\(error)"
                                queue.state.withLock { $0.unreachable = $0.unreachable ?? message }
                                report(SendOutcome(item: item, status: nil, error: message))
                                break
                            }
                        }
                        do {
                            report(try await store(item, on: association!))
                        } catch {
                            report(SendOutcome(item: item, status: nil, error: "\(error)"))
                            await association?.abort()
                            association = nil
                        }
                    }
                    if let association, association.isOpen { try? await association.release() }
                }
            }
        }
        // Items never taken because the peer could not be reached.
        let (next, unreachable) = queue.state.withLock { ($0.next, $0.unreachable) }
        if let unreachable, next < ordered.count {
            for (_, item) in ordered[next...] {
                report(SendOutcome(item: item, status: nil, error: "not sent: \(unreachable)"))
            }
        }
    }
}

/// The shared position in the items and the first connection failure.
private final class WorkQueue: Sendable {
    let state = Mutex((next: 0, unreachable: String?.none))
}

/// C-ECHO (PS3.4 Annex A): the verification service.
public enum Verification {
    public struct Result: Sendable {
        public var status: DIMSEStatus
        public var seconds: Double
        public var peerImplementationClassUID: String
        public var peerImplementationVersionName: String?
        public var maxPDULength: UInt32
    }

    /// Associates, sends C-ECHO-RQ, releases.
    public static func echo(_ parameters: AssociationParameters) async throws -> Result {
        let start = ContinuousClock.now
        let association = try await Association.request(parameters, contexts: [
            PresentationContextProposal(id: 1, abstractSyntax: UIDs.verification, transferSyntaxes: StoreSCU.native),
        ])
        guard let context = association.contexts(for: UIDs.verification).first else {
            try? await association.release()
            throw NetworkError.noAcceptedContext("the Verification SOP class")
        }
        let request = DIMSECommand.echoRQ(messageID: association.nextMessageID())
        try await association.send(request, contextID: context.id)
        let (_, response) = try await association.receiveCommand()
        guard response.field == .cEchoRSP, let status = response.status else {
            await association.abort(.unexpectedPDU)
            throw NetworkError.protocolError("expected C-ECHO-RSP")
        }
        try await association.release()
        let elapsed = ContinuousClock.now - start
        let info = association.accept.userInformation
        return Result(status: status, seconds: elapsed / .seconds(1),
                      peerImplementationClassUID: info.implementationClassUID,
                      peerImplementationVersionName: info.implementationVersionName, maxPDULength: info.maxPDULength)
    }
}

/// Runs async network code from synchronous code (the CLI, a
/// ``CandidateSource``). Blocks the calling thread: never call it from a
/// task of the concurrency pool.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            let value = try await body()
            result.withLock { $0 = .success(value) }
        } catch {
            result.withLock { $0 = .failure(error) }
        }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
