#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DICOM
import Foundation
import NIOCore
import NIOPosix

/// Where and how to reach a peer, and how long to wait for it.
public struct AssociationParameters: Sendable {
    public var host: String
    public var port: Int
    public var calledAE: String
    public var callingAE: String
    /// Longest P-DATA-TF PDU discport accepts (announced in the request).
    public var maxPDULength: UInt32
    public var connectTimeout: TimeAmount
    /// ARTIM (PS3.8 §9.1.5): longest wait for A-ASSOCIATE-AC/RJ and A-RELEASE-RP.
    public var artimTimeout: TimeAmount
    /// Longest wait for a DIMSE response (or the next fragment of one).
    public var dimseTimeout: TimeAmount

    public init(host: String, port: Int, calledAE: String, callingAE: String = "DISCPORT",
                maxPDULength: UInt32 = Association.defaultMaxPDULength,
                connectTimeout: TimeAmount = .seconds(10), artimTimeout: TimeAmount = .seconds(30),
                dimseTimeout: TimeAmount = .seconds(60)) {
        self.host = host
        self.port = port
        self.calledAE = calledAE
        self.callingAE = callingAE
        self.maxPDULength = maxPDULength
        self.connectTimeout = connectTimeout
        self.artimTimeout = artimTimeout
        self.dimseTimeout = dimseTimeout
    }
}

/// What a message carries after its command set.
public enum DatasetPayload: Sendable {
    case none
    /// An encoded data set in memory (identifiers, transcoded instances).
    case data(Data)
    /// `length` bytes of a file from `offset`: streamed in PDV fragments,
    /// never read whole.
    case file(path: String, offset: Int, length: Int)
}

/// An established association (PS3.8), as requestor or acceptor: sends
/// and receives DIMSE messages on its accepted presentation contexts.
///
/// Used by one task at a time; parallel sends open one association each.
public final class Association {
    /// What discport accepts when the peer asks (and announces itself).
    public static let defaultMaxPDULength: UInt32 = 262_144
    /// Fragment size when the peer announces no limit (0).
    static let unlimitedFragment = 1 << 20

    public enum Role: Sendable { case requestor, acceptor }

    let channel: any Channel
    let inbox: PDUInbox
    public let role: Role
    public let request: AssociateRequest
    public let accept: AssociateAccept
    public let artimTimeout: TimeAmount
    public var dimseTimeout: TimeAmount
    /// Data bytes per PDV this side sends (the peer's maximum less headers).
    public let maxFragment: Int

    private var pending: [PDV] = []
    private var pendingIndex = 0
    private var lastMessageID: UInt16 = 0
    public private(set) var isOpen = true

    init(channel: any Channel, inbox: PDUInbox, role: Role, request: AssociateRequest, accept: AssociateAccept,
         artimTimeout: TimeAmount, dimseTimeout: TimeAmount) {
        self.channel = channel
        self.inbox = inbox
        self.role = role
        self.request = request
        self.accept = accept
        self.artimTimeout = artimTimeout
        self.dimseTimeout = dimseTimeout
        // The peer's limit: the acceptor's for what the requestor sends and vice versa.
        let peerMax = role == .requestor ? accept.userInformation.maxPDULength : request.userInformation.maxPDULength
        self.maxFragment = peerMax == 0 ? Association.unlimitedFragment : max(16, Int(peerMax) - 6)
    }

    // MARK: Contexts

    /// The accepted presentation contexts: id → (abstract syntax, transfer syntax).
    public var acceptedContexts: [(id: UInt8, abstractSyntax: String, transferSyntax: String)] {
        accept.presentationContexts.filter { $0.result == .acceptance }.compactMap { result in
            guard let proposal = request.presentationContexts.first(where: { $0.id == result.id }) else { return nil }
            return (result.id, proposal.abstractSyntax, result.transferSyntax)
        }
    }

    /// The accepted contexts for an abstract syntax.
    public func contexts(for abstractSyntax: String) -> [(id: UInt8, transferSyntax: String)] {
        acceptedContexts.filter { $0.abstractSyntax == abstractSyntax }.map { ($0.id, $0.transferSyntax) }
    }

    /// The accepted context `id`, if any.
    public func context(_ id: UInt8) -> (abstractSyntax: String, transferSyntax: String)? {
        acceptedContexts.first { $0.id == id }.map { ($0.abstractSyntax, $0.transferSyntax) }
    }

    public func nextMessageID() -> UInt16 {
        lastMessageID = lastMessageID == UInt16.max ? 1 : lastMessageID + 1
        return lastMessageID
    }

    // MARK: Requesting

    static func pipeline(_ channel: any Channel, inbox: PDUInbox, maximumLength: Int) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PDUDecoder(maximumLength: maximumLength)))
            try channel.pipeline.syncOperations.addHandler(InboxHandler(inbox: inbox))
        }
    }

    /// Largest non-data PDU accepted (association requests with many contexts).
    static let controlPDULimit = 1 << 20

    /// Connects and negotiates (PS3.8 §7.1). Throws ``NetworkError``: a
    /// rejection, an abort, or ARTIM expiry.
    public static func request(_ parameters: AssociationParameters, contexts: [PresentationContextProposal],
                               roleSelections: [RoleSelection] = []) async throws -> Association {
        let inbox = PDUInbox()
        let limit = max(Int(parameters.maxPDULength) + 6, controlPDULimit)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(parameters.connectTimeout)
                .channelOption(ChannelOptions.autoRead, value: false)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in pipeline(channel, inbox: inbox, maximumLength: limit) }
                .connect(host: parameters.host, port: parameters.port).get()
        } catch {
            throw NetworkError.connectionFailed("\(parameters.host):\(parameters.port): \(Association.reason(error))")
        }
        let rq = AssociateRequest(
            calledAE: parameters.calledAE, callingAE: parameters.callingAE, presentationContexts: contexts,
            userInformation: UserInformation(maxPDULength: parameters.maxPDULength,
                                             implementationClassUID: UID.implementationClassUID,
                                             implementationVersionName: UID.implementationVersionName,
                                             roleSelections: roleSelections))
        do {
            try await channel.writeAndFlush(rq.pdu.encoded(allocator: channel.allocator))
            let answer = try await inbox.next(channel: channel, timeout: parameters.artimTimeout, waitingFor: "A-ASSOCIATE-AC (ARTIM)")
            switch answer {
            case .associateAC(let ac):
                return Association(channel: channel, inbox: inbox, role: .requestor, request: rq, accept: ac,
                                   artimTimeout: parameters.artimTimeout, dimseTimeout: parameters.dimseTimeout)
            case .associateRJ(let rj):
                channel.close(promise: nil)
                throw NetworkError.rejected(rj)
            case .abort(let abort):
                channel.close(promise: nil)
                throw NetworkError.aborted(abort)
            default:
                try? await channel.writeAndFlush(PDU.abort(.unexpectedPDU).encoded(allocator: channel.allocator))
                channel.close(promise: nil)
                throw NetworkError.protocolError("\(answer.name) where A-ASSOCIATE-AC/RJ was expected")
            }
        } catch let error as NetworkError {
            if case .timeout = error {
                try? await channel.writeAndFlush(PDU.abort(.user).encoded(allocator: channel.allocator))
                channel.close(promise: nil)
            }
            throw error
        } catch {
            channel.close(promise: nil)
            throw NetworkError.connectionFailed("\(parameters.host):\(parameters.port): \(error)")
        }
    }

    /// A short reason for a connection error ("Connection refused").
    static func reason(_ error: any Error) -> String {
        if let failure = error as? NIOConnectionError, let first = failure.connectionErrors.first {
            return reason(first.error)
        }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if error is ChannelError, case ChannelError.connectTimeout = error { return "connection timed out" }
        return "\(error)"
    }

    // MARK: Sending

    /// Sends a command and its data set on context `contextID`, each
    /// fragmented to the peer's maximum PDU length.
    public func send(_ command: DIMSECommand, dataset: DatasetPayload = .none, contextID: UInt8) async throws {
        let commandBytes = try command.encoded()
        try await writeFragments(contextID: contextID, isCommand: true, total: commandBytes.count) { buffer, offset, count in
            _ = commandBytes.withUnsafeBytes { raw in
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)]))
            }
        }
        switch dataset {
        case .none:
            break
        case .data(let data):
            try await writeFragments(contextID: contextID, isCommand: false, total: data.count) { buffer, offset, count in
                _ = data.withUnsafeBytes { raw in
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)]))
                }
            }
        case .file(let path, let start, let length):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw NetworkError.protocolError("cannot open \(path): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            try await writeFragments(contextID: contextID, isCommand: false, total: length) { buffer, offset, count in
                _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                    let (done, failure) = PositionalRead.fill(target.baseAddress!, count: count, from: fd, at: start + offset)
                    if let failure { throw FileReadError(path: path, message: String(cString: strerror(failure))) }
                    guard done == count else { throw FileReadError(path: path, message: "file is shorter than its header says") }
                    return count
                }
            }
        }
    }

    struct FileReadError: Error, CustomStringConvertible {
        var path: String
        var message: String
        var description: String { "cannot read \(path): \(message)" }
    }

    /// Writes `total` bytes as PDVs, one per P-DATA-TF PDU, `fill` putting
    /// each fragment's bytes straight into the PDU's buffer. At most two
    /// batches of about 1 MiB are in flight (flow control without stalls).
    private func writeFragments(contextID: UInt8, isCommand: Bool, total: Int,
                                fill: (inout ByteBuffer, _ offset: Int, _ count: Int) throws -> Void) async throws {
        guard isOpen else { throw NetworkError.connectionClosed }
        var offset = 0
        var batchBytes = 0
        var last: EventLoopFuture<Void>?
        var previousBatch: EventLoopFuture<Void>?
        repeat {
            let count = min(maxFragment, total - offset)
            let isLast = offset + count == total
            var buffer = channel.allocator.buffer(capacity: 12 + count)
            buffer.writeInteger(UInt8(0x04))
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(UInt32(6 + count))
            buffer.writeInteger(UInt32(2 + count))
            buffer.writeInteger(contextID)
            buffer.writeInteger(UInt8((isCommand ? 0x01 : 0) | (isLast ? 0x02 : 0)))
            try fill(&buffer, offset, count)
            offset += count
            last = channel.write(buffer)
            batchBytes += count + 12
            if batchBytes >= 1 << 20 && !isLast {
                channel.flush()
                if let previousBatch { try await mapWriteError(previousBatch) }
                previousBatch = last
                batchBytes = 0
            }
        } while offset < total
        channel.flush()
        if let last { try await mapWriteError(last) }
    }

    private func mapWriteError(_ future: EventLoopFuture<Void>) async throws {
        do {
            try await future.get()
        } catch {
            isOpen = false
            throw NetworkError.connectionClosed
        }
    }

    func sendPDU(_ pdu: PDU) async throws {
        do {
            try await channel.writeAndFlush(pdu.encoded(allocator: channel.allocator))
        } catch {
            isOpen = false
            throw NetworkError.connectionClosed
        }
    }

    // MARK: Receiving

    private func nextPDV(timeout: TimeAmount, waitingFor what: String) async throws -> PDV {
        while true {
            if pendingIndex < pending.count {
                defer { pendingIndex += 1 }
                return pending[pendingIndex]
            }
            let pdu: PDU
            do {
                pdu = try await inbox.next(channel: channel, timeout: timeout, waitingFor: what)
            } catch let error as NetworkError {
                if case .timeout = error { await abort() } else { isOpen = false }
                throw error
            }
            switch pdu {
            case .data(let pdvs):
                pending = pdvs
                pendingIndex = 0
            case .releaseRQ:
                throw NetworkError.releaseRequested
            case .abort(let abort):
                isOpen = false
                channel.close(promise: nil)
                throw NetworkError.aborted(abort)
            default:
                await abort(.unexpectedPDU)
                throw NetworkError.protocolError("unexpected \(pdu.name) during the association")
            }
        }
    }

    /// The next command set. Throws ``NetworkError/releaseRequested`` when
    /// the peer releases instead (answer with ``acknowledgeRelease()``).
    public func receiveCommand(timeout: TimeAmount? = nil) async throws -> (contextID: UInt8, command: DIMSECommand) {
        var data = Data()
        var contextID: UInt8?
        while true {
            let pdv = try await nextPDV(timeout: timeout ?? dimseTimeout, waitingFor: "a DIMSE command")
            guard pdv.isCommand else {
                await abort(.unexpectedPDU)
                throw NetworkError.protocolError("a data set fragment where a command was expected")
            }
            if let contextID, contextID != pdv.presentationContextID {
                await abort(.invalidParameter)
                throw NetworkError.protocolError("command fragments on two presentation contexts")
            }
            contextID = pdv.presentationContextID
            data.append(contentsOf: pdv.data.readableBytesView)
            if pdv.isLast { break }
        }
        guard let contextID, context(contextID) != nil else {
            await abort(.invalidParameter)
            throw NetworkError.protocolError("message on presentation context \(contextID ?? 0), which was not accepted")
        }
        do {
            return (contextID, try DIMSECommand(decoding: data))
        } catch {
            await abort(.invalidParameter)
            throw NetworkError.protocolError("malformed command set: \(error)")
        }
    }

    /// Streams the data set that follows a command to `sink`, fragment by
    /// fragment.
    public func receiveDataset(contextID: UInt8, sink: (ByteBuffer) throws -> Void) async throws {
        while true {
            let pdv = try await nextPDV(timeout: dimseTimeout, waitingFor: "a data set fragment")
            guard !pdv.isCommand, pdv.presentationContextID == contextID else {
                await abort(.unexpectedPDU)
                throw NetworkError.protocolError("expected a data set fragment on context \(contextID)")
            }
            try sink(pdv.data)
            if pdv.isLast { return }
        }
    }

    /// The data set that follows a command, in memory (identifiers).
    public func receiveDatasetData(contextID: UInt8) async throws -> Data {
        var data = Data()
        try await receiveDataset(contextID: contextID) { buffer in data.append(contentsOf: buffer.readableBytesView) }
        return data
    }

    // MARK: Ending

    /// A-RELEASE-RQ, then waits (ARTIM) for A-RELEASE-RP and closes.
    public func release() async throws {
        guard isOpen else { return }
        defer {
            isOpen = false
            channel.close(promise: nil)
        }
        try await sendPDU(.releaseRQ)
        var collision = false
        while true {
            let pdu = try await inbox.next(channel: channel, timeout: artimTimeout, waitingFor: "A-RELEASE-RP (ARTIM)")
            switch pdu {
            case .releaseRP:
                // Acceptor in a collision: the requestor's RP came first, ours follows (AR-10, AR-4).
                if collision && role == .acceptor { try await sendPDU(.releaseRP) }
                return
            case .releaseRQ:
                // Release collision (PS3.8 §7.2.2, Sta9/Sta10): the requestor
                // answers at once (AR-9) and waits for the acceptor's RP; the
                // acceptor answers after the requestor's RP.
                collision = true
                if role == .requestor { try await sendPDU(.releaseRP) }
            case .abort(let abort): throw NetworkError.aborted(abort)
            case .data: continue   // late responses are dropped
            default: throw NetworkError.protocolError("\(pdu.name) where A-RELEASE-RP was expected")
            }
        }
    }

    /// Answers the peer's A-RELEASE-RQ and closes.
    public func acknowledgeRelease() async {
        try? await sendPDU(.releaseRP)
        isOpen = false
        try? await channel.close()
    }

    /// A-ABORT and close; never throws.
    public func abort(_ abort: Abort = .user) async {
        guard isOpen else { return }
        isOpen = false
        try? await channel.writeAndFlush(PDU.abort(abort).encoded(allocator: channel.allocator))
        try? await channel.close()
    }
}

extension AssociateRequest {
    var pdu: PDU { .associateRQ(self) }
}
