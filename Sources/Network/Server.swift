#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DICOM
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// An instance received by the storage SCP, spooled to a file: the data
/// set exactly as it came (no Part 10 header) in `transferSyntax`.
public struct ReceivedInstance: Sendable {
    public var spoolPath: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var transferSyntax: TransferSyntax
    public var callingAE: String
    public var calledAE: String
    public var peer: String
    public var size: Int
}

/// What the SCP reports as it runs (for logs and the CLI).
public enum ServerEvent: Sendable {
    case associationAccepted(callingAE: String, peer: String, contexts: Int)
    case associationRejected(callingAE: String, peer: String, reason: String)
    case echo(callingAE: String)
    case stored(ReceivedInstance, status: DIMSEStatus, message: String?)
    case released(callingAE: String, instances: Int)
    case aborted(callingAE: String, reason: String)
}

/// The acceptor's side (PS3.8 §7.1.1.4–5): a C-ECHO and C-STORE SCP. What
/// is stored is up to the `store` closure (``ListenJob`` imports into the
/// catalog); the server only negotiates, spools and answers.
public final class DICOMServer: Sendable {
    public struct Configuration: Sendable {
        public var aeTitle: String
        public var host: String
        /// 0: any free port (see ``DICOMServer/port``).
        public var port: Int
        /// Calling AE titles allowed to associate; nil: any.
        public var allowedCallingAEs: Set<String>?
        public var maxPDULength: UInt32
        public var artimTimeout: TimeAmount
        /// Longest silence inside an association before it is aborted.
        public var idleTimeout: TimeAmount
        /// Where received data sets are written before `store` takes them.
        public var spoolDirectory: String
        /// The transfer syntaxes accepted for storage; nil: any discport
        /// knows (the proposer's first). A receiver restricted to some
        /// (uncompressed only, say) makes senders fall back.
        public var acceptedTransferSyntaxes: Set<String>?

        public init(aeTitle: String, host: String = "0.0.0.0", port: Int, allowedCallingAEs: Set<String>? = nil,
                    maxPDULength: UInt32 = Association.defaultMaxPDULength, artimTimeout: TimeAmount = .seconds(30),
                    idleTimeout: TimeAmount = .seconds(300), spoolDirectory: String = NSTemporaryDirectory()) {
            self.aeTitle = aeTitle
            self.host = host
            self.port = port
            self.allowedCallingAEs = allowedCallingAEs
            self.maxPDULength = maxPDULength
            self.artimTimeout = artimTimeout
            self.idleTimeout = idleTimeout
            self.spoolDirectory = spoolDirectory
        }
    }

    /// Stores a received instance and returns the C-STORE-RSP status (and an
    /// error comment). The spool file is removed afterwards if still there.
    public typealias Store = @Sendable (ReceivedInstance) async -> (DIMSEStatus, String?)

    public let configuration: Configuration
    private let store: Store
    private let events: @Sendable (ServerEvent) -> Void
    private let channel: Mutex<(any Channel)?> = Mutex(nil)
    private let spoolCounter = Atomic<Int>(0)

    public init(configuration: Configuration, events: @escaping @Sendable (ServerEvent) -> Void = { _ in },
                store: @escaping Store) {
        self.configuration = configuration
        self.events = events
        self.store = store
    }

    /// The bound port (after ``start()``).
    public var port: Int? {
        channel.withLock { $0?.localAddress?.port }
    }

    /// Binds and starts accepting associations.
    public func start() async throws {
        let limit = max(Int(configuration.maxPDULength) + 6, Association.controlPDULimit)
        let bound = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                let inbox = PDUInbox()
                return Association.pipeline(channel, inbox: inbox, maximumLength: limit).map {
                    Task { await self.serve(channel: channel, inbox: inbox) }
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
        channel.withLock { $0 = bound }
    }

    /// Stops accepting (associations in progress finish on their own).
    public func stop() async {
        let bound = channel.withLock { current -> (any Channel)? in
            defer { current = nil }
            return current
        }
        try? await bound?.close()
    }

    /// Waits until the server is stopped.
    public func wait() async throws {
        let bound = channel.withLock { $0 }
        try await bound?.closeFuture.get()
    }

    // MARK: Negotiation

    /// The answer to an association request: a rejection, or one result
    /// per proposed context (Verification and every storage SOP class
    /// accepted, in the first proposed transfer syntax discport knows).
    func negotiate(_ rq: AssociateRequest) -> Result<[PresentationContextResult], AssociateReject> {
        if rq.applicationContext != dicomApplicationContext { return .failure(.applicationContextNotSupported()) }
        if rq.protocolVersion & 0x0001 == 0 { return .failure(.protocolVersionNotSupported()) }
        if rq.calledAE != configuration.aeTitle { return .failure(.calledAENotRecognized()) }
        if let allowed = configuration.allowedCallingAEs, !allowed.contains(rq.callingAE) {
            return .failure(.callingAENotRecognized())
        }
        return .success(rq.presentationContexts.map { pc in
            guard pc.abstractSyntax == UIDs.verification || UIDs.isStorageClass(pc.abstractSyntax) else {
                return PresentationContextResult(id: pc.id, result: .abstractSyntaxNotSupported,
                                                 transferSyntax: TransferSyntax.implicitVRLittleEndian.uid)
            }
            // The proposer's order, retired syntaxes (big endian) only when nothing else is offered.
            let known = pc.transferSyntaxes.filter {
                TransferSyntax(uid: $0).isKnown
                    && (pc.abstractSyntax == UIDs.verification || configuration.acceptedTransferSyntaxes?.contains($0) ?? true)
            }
            guard let ts = known.first(where: { !TransferSyntax(uid: $0).isRetired }) ?? known.first else {
                return PresentationContextResult(id: pc.id, result: .transferSyntaxesNotSupported,
                                                 transferSyntax: TransferSyntax.implicitVRLittleEndian.uid)
            }
            return PresentationContextResult(id: pc.id, result: .acceptance, transferSyntax: ts)
        })
    }

    private func serve(channel: any Channel, inbox: PDUInbox) async {
        let peer = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let first: PDU
        do {
            first = try await inbox.next(channel: channel, timeout: configuration.artimTimeout, waitingFor: "A-ASSOCIATE-RQ (ARTIM)")
        } catch {
            channel.close(promise: nil)
            return
        }
        guard case .associateRQ(let rq) = first else {
            _ = try? await channel.writeAndFlush(PDU.abort(.unexpectedPDU).encoded(allocator: channel.allocator))
            channel.close(promise: nil)
            return
        }
        switch negotiate(rq) {
        case .failure(let reject):
            events(.associationRejected(callingAE: rq.callingAE, peer: peer, reason: reject.description))
            _ = try? await channel.writeAndFlush(PDU.associateRJ(reject).encoded(allocator: channel.allocator))
            // The requestor closes after the rejection; ARTIM bounds the wait.
            _ = try? await inbox.next(channel: channel, timeout: configuration.artimTimeout, waitingFor: "close")
            channel.close(promise: nil)
        case .success(let results):
            let ac = AssociateAccept(
                calledAE: rq.calledAE, callingAE: rq.callingAE, presentationContexts: results,
                userInformation: UserInformation(maxPDULength: configuration.maxPDULength,
                                                 implementationClassUID: UID.implementationClassUID,
                                                 implementationVersionName: UID.implementationVersionName))
            let association = Association(channel: channel, inbox: inbox, role: .acceptor, request: rq, accept: ac,
                                          artimTimeout: configuration.artimTimeout, dimseTimeout: configuration.idleTimeout)
            do {
                try await association.sendPDU(.associateAC(ac))
            } catch {
                channel.close(promise: nil)
                return
            }
            events(.associationAccepted(callingAE: rq.callingAE, peer: peer, contexts: association.acceptedContexts.count))
            await run(association, peer: peer)
        }
    }

    private func run(_ association: Association, peer: String) async {
        let callingAE = association.request.callingAE
        var received = 0
        while true {
            do {
                let (contextID, command) = try await association.receiveCommand()
                switch command.field {
                case .cEchoRQ:
                    try await association.send(.response(to: command, field: .cEchoRSP, status: .success), contextID: contextID)
                    events(.echo(callingAE: callingAE))
                case .cStoreRQ:
                    try await receiveStore(command, contextID: contextID, on: association, peer: peer)
                    received += 1
                default:
                    if command.hasDataset {
                        try await association.receiveDataset(contextID: contextID) { _ in }
                    }
                    var response = DIMSECommand.response(to: command, field: .cEchoRSP, status: .unrecognizedOperation)
                    if let raw = command.rawField {
                        response.dataset.setIntegers([raw | 0x8000], vr: .US, for: .commandField)
                    }
                    try await association.send(response, contextID: contextID)
                }
            } catch NetworkError.releaseRequested {
                await association.acknowledgeRelease()
                events(.released(callingAE: callingAE, instances: received))
                return
            } catch {
                await association.abort()
                events(.aborted(callingAE: callingAE, reason: "\(error)"))
                return
            }
        }
    }

    private func receiveStore(_ command: DIMSECommand, contextID: UInt8, on association: Association, peer: String) async throws {
        let path = configuration.spoolDirectory + "/discport-scp-\(getpid())-\(spoolCounter.add(1, ordering: .relaxed).newValue).dcm"
        let store = self.store
        let events = self.events
        _ = try await association.receiveStoredInstance(command, contextID: contextID, spoolPath: path) { instance in
            let (status, message) = await store(instance)
            events(.stored(instance, status: status, message: message))
            return (status, message)
        }
    }
}
