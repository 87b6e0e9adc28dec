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
    /// The syntax the instance is in: the one it is offered and sent in.
    public var transferSyntax: TransferSyntax
    /// Where the data set starts (after the file meta information; 0 for a raw data set).
    public var datasetOffset: Int
    public var fileSize: Int
    /// Set when the file's data set is not encoded as ``transferSyntax``
    /// says: the encoding its bytes are in. A broken writer's file
    /// (encapsulated JPEG pixel data in an implicit VR data set whose file
    /// meta names JPEG Baseline) is never streamed as it is, which would
    /// label it implicit VR with compressed pixel data: its data set is
    /// re-encoded in ``transferSyntax`` (explicit VR little endian,
    /// fragments unchanged), or decompressed.
    public var encodedAs: TransferSyntax?
    /// Why the file cannot be sent at all (its pixel data is not what any
    /// syntax it names says); nil when it can.
    public var problem: String?

    public init(path: String, sopClassUID: String, sopInstanceUID: String, transferSyntax: TransferSyntax,
                datasetOffset: Int, fileSize: Int, encodedAs: TransferSyntax? = nil, problem: String? = nil) {
        self.path = path
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.transferSyntax = transferSyntax
        self.datasetOffset = datasetOffset
        self.fileSize = fileSize
        self.encodedAs = encodedAs
        self.problem = problem
    }

    /// Reads the header of a DICOM file (Part 10 or raw data set).
    ///
    /// The instance is its data set: the C-STORE-RQ names the data set's
    /// SOP Class and Instance UIDs (0008,0016)/(0008,0018) (the file meta
    /// information is not sent; a receiver refuses a command that names
    /// other UIDs than its data set, and keeps the data set's), the file
    /// meta's only where the data set has none.
    public init(path: String) throws(DICOMError) {
        let header = try DICOMFile(contentsOf: path, options: .header)
        func uid(_ tag: Tag, _ metaTag: Tag) -> String? {
            for value in [header.dataset.firstString(tag), header.meta.firstString(metaTag)] {
                if let value = value.map(UID.trimmed), !value.isEmpty { return value }
            }
            return nil
        }
        guard let sopClass = uid(.sopClassUID, .mediaStorageSOPClassUID),
              let sopInstance = uid(.sopInstanceUID, .mediaStorageSOPInstanceUID) else {
            throw DICOMError(.invalidValue, "no SOP Class or SOP Instance UID: cannot be sent", path: path)
        }
        self.init(path: path, sopClassUID: sopClass, sopInstanceUID: sopInstance, transferSyntax: header.transferSyntax,
                  datasetOffset: header.datasetOffset, fileSize: header.fileSize ?? 0)
        checkPixelData(header)
    }

    /// The pixel data must be what the syntax says (PS3.5 A.4: encapsulated,
    /// of undefined length, under a compressed syntax only). The reader
    /// trusts the content's encoding over the file meta's syntax, so a
    /// JPEG file whose data set some writer put in implicit VR reads as
    /// implicit VR: it is sent in the compressed syntax its meta declares
    /// (``encodedAs`` keeps the encoding to convert from). Pixel data no
    /// declared syntax describes is a ``problem``: never sent mislabelled.
    private mutating func checkPixelData(_ header: DICOMFile) {
        let syntax = header.transferSyntax
        guard let pixels = PixelDataEncoding.of(header, path: path), pixels.mismatch(with: syntax) != nil else { return }
        let declared = PixelDataEncoding.declaredSyntax(header)
        if pixels == .encapsulated {
            if let declared, declared.isEncapsulated, !declared.isDeflated, !declared.isBigEndian {
                encodedAs = syntax
                transferSyntax = declared
                return
            }
            let context = declared.map { " (its file meta declares \($0.name))" } ?? " (it has no file meta information naming a syntax)"
            problem = "its Pixel Data is encapsulated (compressed fragments) but its data set is \(syntax.name)\(context): "
                + "no compressed transfer syntax is declared, so it can be neither sent as it is nor decompressed; not sent"
        } else {
            problem = "its Pixel Data is native (a defined length) but its transfer syntax is \(syntax.name), whose pixel data is encapsulated: "
                + "no receiver could decode it; not sent"
        }
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
    /// The file's own transfer syntax when the instance travelled in
    /// another one (``transferSyntaxUID``): re-encoded or decompressed
    /// losslessly because the peer did not accept the file's.
    public var convertedFrom: String?
    /// A remark on how it was sent (a lossy image decompressed).
    public var note: String?

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

    /// Decodes the compressed pixel data of a file into a native syntax
    /// (explicit or implicit VR little endian) and returns the encoded data
    /// set. Network does not decode pixels: the Codecs transcoder is given
    /// by the caller (``SendJob``); without one, compressed data is never
    /// converted.
    public typealias Decompressor = @Sendable (_ path: String, _ target: TransferSyntax) throws -> Data

    /// How an item travels on an association.
    enum Plan: Equatable {
        /// As stored, streamed from the file.
        case asStored(contextID: UInt8, transferSyntax: String)
        /// An uncompressed (deflated, big endian) data set re-encoded in a
        /// native syntax: element values unchanged.
        case reencode(contextID: UInt8, transferSyntax: String)
        /// Compressed pixel data decoded into a native syntax. `lossy`: the
        /// source was lossy-compressed (decoded only because the peer takes
        /// nothing but uncompressed data for the class; Lossy Image
        /// Compression stays 01).
        case decompress(contextID: UInt8, transferSyntax: String, lossy: Bool)
        /// Cannot be sent on this association; why.
        case refused(String)

        var contextAndSyntax: (UInt8, String)? {
            switch self {
            case .asStored(let id, let ts), .reencode(let id, let ts), .decompress(let id, let ts, _): (id, ts)
            case .refused: nil
            }
        }
    }

    /// How an item is sent given the contexts the peer accepted for its SOP
    /// class (PS3.5 §8, §10: a transfer syntax change is not a new instance
    /// as long as it is lossless):
    /// 1. its own transfer syntax, when accepted: as stored, never touched;
    /// 2. an uncompressed data set in a native syntax (re-encoding only);
    /// 3. lossless compressed pixel data (RLE, JPEG lossless, JPEG-LS
    ///    lossless, JPEG 2000 lossless) decoded into a native syntax, when
    ///    a decompressor is given: the pixels are bit-identical;
    /// 4. lossy compressed pixel data only when the peer accepts nothing but
    ///    native syntaxes for the class (as `storescu` does when it
    ///    decompresses): decoding adds no loss, and the image stays marked
    ///    Lossy Image Compression 01 with its method. When the peer accepts
    ///    another compressed syntax, a lossy image is refused and reported:
    ///    discport never re-encodes lossy data into something else.
    static func plan(_ item: StoreItem, accepted: [(id: UInt8, transferSyntax: String)], canDecompress: Bool) -> Plan {
        if let problem = item.problem { return .refused(problem) }
        if let same = accepted.first(where: { $0.transferSyntax == item.transferSyntax.uid }) {
            // A data set whose bytes are in another encoding than its syntax
            // is re-encoded (element values and fragments unchanged).
            if item.encodedAs != nil { return .reencode(contextID: same.id, transferSyntax: same.transferSyntax) }
            return .asStored(contextID: same.id, transferSyntax: same.transferSyntax)
        }
        let className = UIDRegistry.name(for: item.sopClassUID) ?? item.sopClassUID
        guard !accepted.isEmpty else {
            let proposed = ([item.transferSyntax.uid] + native).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return .refused("the peer accepts SOP class \(className) in none of the transfer syntaxes proposed (\(proposed.map { TransferSyntax(uid: $0).name }.joined(separator: ", "))), or not at all; discport compresses nothing")
        }
        let nativeContext = native.lazy.compactMap { uid in accepted.first(where: { $0.transferSyntax == uid }) }.first
        let offered = accepted.map { TransferSyntax(uid: $0.transferSyntax).name }.joined(separator: ", ")
        guard item.transferSyntax.isEncapsulated else {
            if let context = nativeContext { return .reencode(contextID: context.id, transferSyntax: context.transferSyntax) }
            return .refused("the peer accepts \(offered) for \(className) but not \(item.transferSyntax.name), and discport compresses nothing")
        }
        guard let context = nativeContext else {
            return .refused("the peer accepts \(offered) for \(className) but not \(item.transferSyntax.name), and discport does not re-encode compressed data")
        }
        guard canDecompress else {
            return .refused("the peer accepts \(offered) but not \(item.transferSyntax.name), and compressed data is never decompressed")
        }
        if item.transferSyntax.isLossy {
            let onlyNative = accepted.allSatisfy { native.contains($0.transferSyntax) }
            guard onlyNative else {
                return .refused("the peer accepts \(offered) for \(className) but not \(item.transferSyntax.name); a lossy image is not converted to another compressed syntax")
            }
            return .decompress(contextID: context.id, transferSyntax: context.transferSyntax, lossy: true)
        }
        return .decompress(contextID: context.id, transferSyntax: context.transferSyntax, lossy: false)
    }

    /// Sends one item on an open association and waits for its response.
    /// Throws only when the association itself failed.
    static func store(_ item: StoreItem, on association: Association, decompress: Decompressor?) async throws -> SendOutcome {
        var outcome = SendOutcome(item: item)
        let plan = plan(item, accepted: association.contexts(for: item.sopClassUID), canDecompress: decompress != nil)
        let payload: DatasetPayload
        switch plan {
        case .refused(let why):
            outcome.error = why
            return outcome
        case .reencode(_, let uid):
            do {
                let file = try DICOMFile(contentsOf: item.path)
                payload = .data(try DICOMWriter.encode(file.dataset, transferSyntax: TransferSyntax(uid: uid)))
            } catch {
                outcome.error = "cannot convert to \(TransferSyntax(uid: uid).name): \(error)"
                return outcome
            }
            if let encodedAs = item.encodedAs {
                outcome.convertedFrom = encodedAs.uid
                outcome.note = "its file names \(item.transferSyntax.name) but its data set is \(encodedAs.name): the data set was re-encoded as \(item.transferSyntax.name) requires, pixel data unchanged"
            } else {
                outcome.convertedFrom = item.transferSyntax.uid
            }
        case .decompress(_, let uid, let lossy):
            do {
                payload = .data(try decompress!(item.path, TransferSyntax(uid: uid)))
            } catch {
                outcome.error = "cannot decompress \(item.transferSyntax.name) to \(TransferSyntax(uid: uid).name) for the peer: \(error)"
                return outcome
            }
            outcome.convertedFrom = item.transferSyntax.uid
            if lossy {
                outcome.note = "lossy \(item.transferSyntax.name) decompressed: the peer accepts only uncompressed data for this class; Lossy Image Compression stays 01"
            }
        case .asStored:
            guard let size = fileSize(item.path), size >= item.datasetOffset else {
                outcome.error = "cannot read \(item.path)"
                return outcome
            }
            payload = .file(path: item.path, offset: item.datasetOffset, length: size - item.datasetOffset)
        }
        let (contextID, transferSyntax) = plan.contextAndSyntax!
        outcome.transferSyntaxUID = transferSyntax
        let messageID = association.nextMessageID()
        let request = DIMSECommand.storeRQ(messageID: messageID, sopClassUID: item.sopClassUID, sopInstanceUID: item.sopInstanceUID)
        do {
            try await association.send(request, dataset: payload, contextID: contextID)
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

    /// The items in bundles, one association each, whose proposals fit the
    /// 128 presentation contexts of an association (PS3.8: odd ids 1–255):
    /// every item of a SOP class in one bundle, a class counted with all
    /// its syntaxes (and its native fallback), classes in the order met.
    static func bundles(_ items: [StoreItem]) -> [[StoreItem]] {
        var order: [String] = []
        var byClass: [String: [StoreItem]] = [:]
        for item in items {
            if byClass[item.sopClassUID] == nil { order.append(item.sopClassUID) }
            byClass[item.sopClassUID, default: []].append(item)
        }
        var bundles: [[StoreItem]] = []
        var size = 0
        for sopClass in order {
            let members = byClass[sopClass]!
            let count = proposals(for: members).count
            if bundles.isEmpty || size + count > 128 {
                bundles.append([])
                size = 0
            }
            bundles[bundles.count - 1] += members
            size += count
        }
        return bundles
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
                            decompress: Decompressor? = nil, report: @escaping @Sendable (SendOutcome) -> Void) async {
        guard !items.isEmpty else { return }
        let bundles = bundles(items)
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
                            report(try await store(item, on: association!, decompress: decompress))
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
