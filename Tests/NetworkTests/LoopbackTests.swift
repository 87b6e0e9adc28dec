#if canImport(Glibc)
import Glibc
#endif
import DICOM
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import Network

/// A small CT-like Part 10 file written with discport's writer.
private func writeInstance(_ path: String, uid: String, pixels: Int, syntax: TransferSyntax = .explicitVRLittleEndian) throws {
    var ds = Dataset()
    try ds.setString("ISO_IR 192", vr: .CS, for: .specificCharacterSet)
    try ds.setString("1.2.840.10008.5.1.4.1.1.7", vr: .UI, for: .sopClassUID)
    try ds.setString(uid, vr: .UI, for: .sopInstanceUID)
    try ds.setString("山田^太郎", vr: .PN, for: .patientName)
    try ds.setString("P1", vr: .LO, for: .patientID)
    try ds.setString("1.2.3.100", vr: .UI, for: .studyInstanceUID)
    try ds.setString("1.2.3.100.1", vr: .UI, for: .seriesInstanceUID)
    ds.set(DataElement(tag: Tag(0x7FE0, 0x0010), vr: .OW, bytes: Data((0..<pixels).map { UInt8(truncatingIfNeeded: $0 * 7) })))
    try DICOMFile(dataset: ds, transferSyntax: syntax).write(to: path)
}

private func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "discport-net-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct LoopbackTests {
    /// A server keeping copies of what it receives in `folder`.
    private func startServer(folder: String, maxPDU: UInt32, status: DIMSEStatus = .success) async throws -> DICOMServer {
        let server = DICOMServer(configuration: .init(aeTitle: "TESTSCP", host: "127.0.0.1", port: 0, maxPDULength: maxPDU,
                                                      spoolDirectory: folder)) { instance in
            try? FileManager.default.copyItem(atPath: instance.spoolPath, toPath: folder + "/received-" + instance.sopInstanceUID)
            return (status, status.isDone ? nil : "test refusal")
        }
        try await server.start()
        return server
    }

    @Test func echoAndStoreWithFragmentation() async throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await startServer(folder: folder, maxPDU: 4096)
        let port = try #require(server.port)
        let parameters = AssociationParameters(host: "127.0.0.1", port: port, calledAE: "TESTSCP", maxPDULength: 8192)

        let echo = try await Verification.echo(parameters)
        #expect(echo.status == .success)
        #expect(echo.peerImplementationClassUID == UID.implementationClassUID)
        #expect(echo.maxPDULength == 4096)

        var items: [StoreItem] = []
        for (index, size) in [0, 1000, 100_000, 3_000_001].enumerated() {
            let path = folder + "/in\(index).dcm"
            try writeInstance(path, uid: "1.2.3.4.\(index)", pixels: size & ~1,
                              syntax: index == 1 ? .implicitVRLittleEndian : .explicitVRLittleEndian)
            items.append(try StoreItem(path: path))
        }
        let outcomes = Mutex<[SendOutcome]>([])
        await StoreSCU.send(items, parameters: parameters, parallel: 2) { outcome in outcomes.withLock { $0.append(outcome) } }
        let results = outcomes.withLock { $0 }
        #expect(results.count == items.count)
        for outcome in results {
            #expect(outcome.isDone, "\(outcome.error ?? "")")
            #expect(outcome.transferSyntaxUID == outcome.item.transferSyntax.uid)
            // The data set arrived byte for byte as it is in the file after the meta header.
            let original = try Data(contentsOf: URL(fileURLWithPath: outcome.item.path))
            let received = try Data(contentsOf: URL(fileURLWithPath: folder + "/received-" + outcome.item.sopInstanceUID))
            #expect(received == original[outcome.item.datasetOffset...])
        }
        await server.stop()
    }

    @Test func failureStatusIsReportedPerInstance() async throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await startServer(folder: folder, maxPDU: 16384, status: DIMSEStatus(0xA700))
        let parameters = AssociationParameters(host: "127.0.0.1", port: try #require(server.port), calledAE: "TESTSCP")
        let path = folder + "/a.dcm"
        try writeInstance(path, uid: "1.2.3.9", pixels: 10)
        let outcomes = Mutex<[SendOutcome]>([])
        await StoreSCU.send([try StoreItem(path: path)], parameters: parameters) { o in outcomes.withLock { $0.append(o) } }
        let outcome = try #require(outcomes.withLock { $0 }.first)
        #expect(outcome.status == DIMSEStatus(0xA700))
        #expect(!outcome.isDone)
        #expect(outcome.errorComment == "test refusal")
        await server.stop()
    }

    @Test func rejectionAndUnreachablePeer() async throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await startServer(folder: folder, maxPDU: 16384)
        let port = try #require(server.port)
        await #expect(throws: NetworkError.self) {
            _ = try await Verification.echo(AssociationParameters(host: "127.0.0.1", port: port, calledAE: "WRONG"))
        }
        do {
            _ = try await Verification.echo(AssociationParameters(host: "127.0.0.1", port: port, calledAE: "WRONG"))
        } catch NetworkError.rejected(let rj) {
            #expect(rj == .calledAENotRecognized())
        }
        await server.stop()
        // Nothing listens any more: every item fails with the connection error.
        let path = folder + "/a.dcm"
        try writeInstance(path, uid: "1.2.3.10", pixels: 10)
        let outcomes = Mutex<[SendOutcome]>([])
        await StoreSCU.send([try StoreItem(path: path), try StoreItem(path: path)],
                            parameters: AssociationParameters(host: "127.0.0.1", port: port, calledAE: "TESTSCP")) { o in
            outcomes.withLock { $0.append(o) }
        }
        #expect(outcomes.withLock { $0 }.count == 2)
        #expect(outcomes.withLock { $0 }.allSatisfy { !$0.isDone && $0.error != nil })
    }

    /// A JPEG file whose data set a broken writer put in implicit VR (meta:
    /// JPEG Baseline; content: implicit VR, encapsulated pixel data) is sent
    /// in JPEG Baseline with its data set re-encoded explicit, fragments
    /// unchanged, never labelled implicit VR with compressed pixel data;
    /// encapsulated pixel data no syntax declares is refused; the command
    /// names the data set's SOP Instance UID, not the file meta's.
    @Test func dataSetAndItsLabelAgreeOnTheWire() async throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await startServer(folder: folder, maxPDU: 16384)
        let parameters = AssociationParameters(host: "127.0.0.1", port: try #require(server.port), calledAE: "TESTSCP")

        func dataset(_ uid: String) throws -> Dataset {
            var ds = Dataset()
            try ds.setString("1.2.840.10008.5.1.4.1.1.7", vr: .UI, for: .sopClassUID)
            try ds.setString(uid, vr: .UI, for: .sopInstanceUID)
            try ds.setString("P1", vr: .LO, for: .patientID)
            let fragment = Data([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 0xFF, 0xD9])
            ds.set(DataElement(tag: .pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(fragments: [fragment])),
                               hasUndefinedLength: true))
            return ds
        }
        // Meta says JPEG Baseline, the data set is implicit VR.
        let broken = folder + "/implicit-jpeg.dcm"
        let ds = try dataset("1.2.3.50")
        let labelled = try DICOMWriter.encode(DICOMFile(dataset: ds, transferSyntax: .jpegBaseline))
        let offset = try DICOMFile(data: labelled, options: .header).datasetOffset
        try (labelled.prefix(offset) + DICOMWriter.encode(ds, transferSyntax: .implicitVRLittleEndian))
            .write(to: URL(fileURLWithPath: broken))
        // A raw implicit data set with encapsulated pixel data: no syntax says how it was compressed.
        let unknown = folder + "/raw-encapsulated.dcm"
        try DICOMWriter.encode(try dataset("1.2.3.51"), transferSyntax: .implicitVRLittleEndian).write(to: URL(fileURLWithPath: unknown))
        // The file meta names another SOP Instance UID than the data set.
        let mismatched = folder + "/meta-uid.dcm"
        var meta = Dataset()
        try meta.setString("9.9.9.9", vr: .UI, for: .mediaStorageSOPInstanceUID)
        var plain = try dataset("1.2.3.52")
        plain.set(DataElement(tag: .pixelData, vr: .OB, bytes: Data(count: 16)))
        try DICOMFile(meta: meta, dataset: plain, transferSyntax: .explicitVRLittleEndian).write(to: mismatched)

        let items = [try StoreItem(path: broken), try StoreItem(path: unknown), try StoreItem(path: mismatched)]
        #expect(items[0].transferSyntax == .jpegBaseline)
        #expect(items[0].encodedAs == .implicitVRLittleEndian)
        #expect(items[1].problem?.contains("encapsulated") == true)
        #expect(items[2].sopInstanceUID == "1.2.3.52")
        // JPEG Baseline is proposed for the broken file, not implicit VR.
        #expect(StoreSCU.proposals(for: [items[0]]).contains { $0.transferSyntaxes == [TransferSyntax.jpegBaseline.uid] })
        #expect(!StoreSCU.proposals(for: [items[0]]).contains { $0.transferSyntaxes == [TransferSyntax.implicitVRLittleEndian.uid] })

        let outcomes = Mutex<[SendOutcome]>([])
        await StoreSCU.send(items, parameters: parameters) { outcome in outcomes.withLock { $0.append(outcome) } }
        let results = outcomes.withLock { $0 }
        let sent = try #require(results.first { $0.item.path == broken })
        #expect(sent.isDone, "\(sent.error ?? "")")
        #expect(sent.transferSyntaxUID == TransferSyntax.jpegBaseline.uid)
        #expect(sent.convertedFrom == TransferSyntax.implicitVRLittleEndian.uid)
        let received = try DICOMFile(datasetData: try Data(contentsOf: URL(fileURLWithPath: folder + "/received-1.2.3.50")),
                                     transferSyntax: .jpegBaseline)
        #expect(received.warnings.isEmpty)   // explicit VR, as JPEG Baseline says
        #expect(received.dataset[.pixelData]?.fragments?.fragments == ds[.pixelData]?.fragments?.fragments)

        let refused = try #require(results.first { $0.item.path == unknown })
        #expect(!refused.isDone && refused.status == nil && refused.error?.contains("not sent") == true)
        #expect(!FileManager.default.fileExists(atPath: folder + "/received-1.2.3.51"))

        let named = try #require(results.first { $0.item.path == mismatched })
        #expect(named.isDone, "\(named.error ?? "")")
        #expect(named.item.sopInstanceUID == "1.2.3.52")
        #expect(FileManager.default.fileExists(atPath: folder + "/received-1.2.3.52"))
        await server.stop()
    }

    /// A peer sending a malformed PDU (an unknown type, a length far over
    /// the limit: nothing of it is allocated) gets an A-ABORT saying why
    /// (PS3.8 §9.3.8) before the connection closes, not a bare close.
    @Test func malformedPDUIsAnsweredWithAbort() async throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await startServer(folder: folder, maxPDU: 16384)
        let port = try #require(server.port)
        let request = PDU.associateRQ(AssociateRequest(
            calledAE: "TESTSCP", callingAE: "RAW",
            presentationContexts: [PresentationContextProposal(id: 1, abstractSyntax: UIDs.verification,
                                                               transferSyntaxes: [TransferSyntax.implicitVRLittleEndian.uid])],
            userInformation: UserInformation(maxPDULength: 16384, implementationClassUID: "1.2.3")))
        let cases: [(bytes: [UInt8], reason: UInt8)] = [
            ([0x09, 0, 0, 0, 0, 4, 1, 2, 3, 4], 1),                    // unrecognized PDU type
            ([0x04, 0, 0xFF, 0xFF, 0xFF, 0xF0] + [UInt8](repeating: 0, count: 64), 6),   // 4 GB announced
        ]
        for (bytes, reason) in cases {
            let answer = try await onThread { try RawConnection.exchange(port: port, [Array(request.encoded().readableBytesView), bytes]) }
            // A-ASSOCIATE-AC, then A-ABORT from the service provider with the reason.
            #expect(answer.first == 0x02)
            let acLength = answer.count >= 6 ? Int(answer[2]) << 24 | Int(answer[3]) << 16 | Int(answer[4]) << 8 | Int(answer[5]) : 0
            #expect(Array(answer.dropFirst(6 + acLength)) == [0x07, 0, 0, 0, 0, 4, 0, 0, 2, reason])
        }
        await server.stop()
    }

    /// Release collision (PS3.8 §7.2.2): the acceptor asks to release while
    /// discport does; the requestor answers A-RELEASE-RP at once and the
    /// acceptor then answers its own, instead of both waiting for ARTIM.
    @Test func releaseCollisionCompletes() async throws {
        let listener = try RawAcceptor()
        let port = listener.port
        let peer = Task { try await onThread { try listener.serveCollision() } }
        let parameters = AssociationParameters(host: "127.0.0.1", port: port, calledAE: "RAW", artimTimeout: .seconds(3))
        let association = try await Association.request(parameters, contexts: [
            PresentationContextProposal(id: 1, abstractSyntax: UIDs.verification, transferSyntaxes: StoreSCU.native),
        ])
        let start = ContinuousClock.now
        try await association.release()
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(try await peer.value == [0x05, 0x06])   // what the peer got after the AC: RQ, then RP
    }

    @Test func artimExpiresWhenThePeerNeverAnswers() async throws {
        // A TCP server that accepts and stays silent.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let parameters = AssociationParameters(host: "127.0.0.1", port: silent.localAddress!.port!, calledAE: "X",
                                               artimTimeout: .milliseconds(300))
        let start = ContinuousClock.now
        do {
            _ = try await Verification.echo(parameters)
            Issue.record("an association with a silent peer succeeded")
        } catch NetworkError.timeout(let what) {
            #expect(what.contains("ARTIM"))
        }
        // The 300 ms timer, not the 30 s default: a bound far from both, as
        // a loaded machine (parallel tests, builds) delays the task by seconds.
        #expect(ContinuousClock.now - start < .seconds(20))
    }
}

/// Runs blocking socket code on a thread of its own, never on the
/// concurrency pool the server's and client's tasks need (with two cores,
/// a blocked pool thread or two would stall the very peer it waits for).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A blocking TCP client for tests: sends each chunk (the second after the
/// first answer), then reads until the peer closes (or 5 s pass).
enum RawConnection {
    static func exchange(port: Int, _ chunks: [[UInt8]]) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        for (index, chunk) in chunks.enumerated() {
            _ = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if index == 0 {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 { received += buffer[0..<n] }
            }
        }
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return received
    }
}

/// A socket listening on 127.0.0.1 at a port the system chose, with
/// `backlog`; nil when it cannot listen.
func loopbackListener(backlog: Int32) -> (fd: Int32, port: UInt16)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, backlog) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { close(fd); return nil }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// A one-connection acceptor over blocking sockets, acting a release collision.
final class RawAcceptor: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        guard let (socketFD, port) = loopbackListener(backlog: 1) else { throw POSIXError(.EADDRINUSE) }
        fd = socketFD
        self.port = Int(port)
    }

    deinit { close(fd) }

    /// Accepts, answers the A-ASSOCIATE-RQ with an AC accepting context 1,
    /// waits for A-RELEASE-RQ, sends its own A-RELEASE-RQ, waits for
    /// A-RELEASE-RP, sends A-RELEASE-RP; returns the PDU types received after the RQ.
    func serveCollision() throws -> [UInt8] {
        let connection = accept(fd, nil, nil)
        guard connection >= 0 else { throw POSIXError(.EIO) }
        defer { close(connection) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func readPDU() -> (UInt8, [UInt8])? {
            func exactly(_ count: Int) -> [UInt8]? {
                var bytes = [UInt8](repeating: 0, count: count)
                var done = 0
                while done < count {
                    let n = bytes.withUnsafeMutableBytes { recv(connection, $0.baseAddress! + done, count - done, 0) }
                    if n <= 0 { return nil }
                    done += n
                }
                return bytes
            }
            guard let header = exactly(6) else { return nil }
            let length = Int(header[2]) << 24 | Int(header[3]) << 16 | Int(header[4]) << 8 | Int(header[5])
            guard let body = exactly(length) else { return nil }
            return (header[0], body)
        }
        func write(_ pdu: PDU) {
            let bytes = Array(pdu.encoded().readableBytesView)
            _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        guard let (type, body) = readPDU(), type == 0x01 else { throw POSIXError(.EPROTO) }
        var buffer = ByteBuffer(bytes: body)
        guard case .associateRQ(let rq) = try PDU.decode(type: type, body: &buffer) else { throw POSIXError(.EPROTO) }
        write(.associateAC(AssociateAccept(
            calledAE: rq.calledAE, callingAE: rq.callingAE,
            presentationContexts: [PresentationContextResult(id: 1, result: .acceptance, transferSyntax: StoreSCU.native[0])],
            userInformation: UserInformation(maxPDULength: 16384, implementationClassUID: "1.2.3"))))
        var received: [UInt8] = []
        guard let (release, _) = readPDU() else { return received }
        received.append(release)
        write(.releaseRQ)
        guard let (answer, _) = readPDU() else { return received }
        received.append(answer)
        write(.releaseRP)
        return received
    }
}
