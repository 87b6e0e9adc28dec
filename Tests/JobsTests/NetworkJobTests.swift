import Codecs
import DICOM
import Foundation
import Jobs
import Network
import Reconcile
import Store
import Synchronization
import Testing

// The network jobs against discport's own storage SCP, in process on
// loopback: a receiving store (`listen`), a sending store.

/// Runs blocking job code (the jobs block on their network tasks) on a
/// thread of its own, never on the concurrency pool the tasks need: with
/// two cores, blocked pool threads would starve every other test.
private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A receiving node: discport's SCP importing into its own store.
private final class Receiver {
    let store: InstanceStore
    let server: DICOMServer
    let importID: Int64
    let job: ListenJob

    init(home: String, acceptedTransferSyntaxes: Set<String>? = nil,
         events: @escaping @Sendable (ServerEvent) -> Void = { _ in }) async throws {
        store = try openStore(home)
        var configuration = DICOMServer.Configuration(aeTitle: "RECEIVER", host: "127.0.0.1", port: 0)
        configuration.acceptedTransferSyntaxes = acceptedTransferSyntaxes
        job = ListenJob(store: store, configuration: configuration)
        (server, importID) = try await job.start(events: events)
    }

    var port: Int { server.port ?? 0 }

    func stop() async throws {
        try await job.finish(server, importID: importID)
        try store.flush()
    }
}

/// The node `pacs` in `store`, pointing at `port`.
private func addNode(to store: InstanceStore, port: Int) throws -> RemotePeer {
    let node = RemoteNodeRecord(name: "pacs", aeTitle: "RECEIVER", host: "127.0.0.1", port: port, callingAE: nil, url: nil, auth: nil)
    try store.saveRemoteNode(node)
    return try RemotePeer.named("pacs", in: store, timeout: 5)
}

private func files(under folder: String) -> [String] {
    (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: folder + "/" + $0, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}

private func importSending(_ source: String, store: InstanceStore, peer: RemotePeer, keepInStore: Bool,
                           decision: PatientDecision) throws -> (ImportSummary, [SendEvent]) {
    let job = ImportJob(source: source, store: store)
    var plan = job.scan()
    plan.decisions = Array(repeating: decision, count: plan.report.patients.count)
    let sent = LockedEvents()
    let summary = try job.run(plan, send: ImportSend(peer: peer, keepInStore: keepInStore)) { event in
        if case .sent(let e) = event { sent.append(e) }
    }
    return (summary, sent.all)
}

private final class LockedEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [SendEvent] = []
    func append(_ e: SendEvent) { lock.withLock { events.append(e) } }
    var all: [SendEvent] { lock.withLock { events } }
}

/// A 16-bit MONOCHROME2 CT image, 16×16, explicit VR little endian.
private func ctImage(sop: String) -> DICOMFile {
    func us(_ group: UInt16, _ element: UInt16, _ value: UInt16) -> DataElement {
        DataElement(tag: DICOM.Tag(group, element), vr: .US, bytes: Data([UInt8(value & 0xFF), UInt8(value >> 8)]))
    }
    var pixels = Data()
    for i in 0..<256 { let v = UInt16((i * 37) % 4096); pixels.append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8)]) }
    let dataset = Dataset([
        Disc.element(0x0008, 0x0016, .UI, "1.2.840.10008.5.1.4.1.1.2"),
        Disc.element(0x0008, 0x0018, .UI, sop),
        Disc.element(0x0008, 0x0060, .CS, "CT"),
        Disc.element(0x0010, 0x0010, .PN, "Test^Fallback"),
        Disc.element(0x0010, 0x0020, .LO, "FB-1"),
        Disc.element(0x0020, 0x000D, .UI, "1.2.3.900"),
        Disc.element(0x0020, 0x000E, .UI, "1.2.3.901"),
        us(0x0028, 0x0002, 1),
        Disc.element(0x0028, 0x0004, .CS, "MONOCHROME2"),
        us(0x0028, 0x0010, 16), us(0x0028, 0x0011, 16),
        us(0x0028, 0x0100, 16), us(0x0028, 0x0101, 12), us(0x0028, 0x0102, 11), us(0x0028, 0x0103, 0),
        DataElement(tag: .pixelData, vr: .OW, bytes: pixels),
    ])
    return DICOMFile(dataset: dataset, transferSyntax: .explicitVRLittleEndian)
}

@Suite("Network jobs (discport's own SCP on loopback)", .serialized)
struct NetworkJobTests {
    @Test("import --send --no-store: the node gets every coerced instance, the store none; a re-run sends nothing")
    func importSendNoStore() async throws {
        let scratch = Scratch()
        let receiver = try await Receiver(home: scratch.sub("pacs"))
        let home = scratch.sub("home")
        let store = try openStore(home)
        let peer = try addNode(to: store, port: receiver.port)
        let local = PatientDecision.assign(LocalIdentity(patientID: "LOCAL-7", issuerOfPatientID: "CLINIC"))
        let (first, events) = try await offPool {
            try importSending(Disc.sample, store: store, peer: peer, keepInStore: false, decision: local)
        }
        #expect(first.counts.outgoing == 5)
        #expect(first.counts.stored == 0)
        #expect(first.send?.sent == 5)
        #expect(first.exitStatus == 0)
        #expect(events.count == 5 && events.allSatisfy { $0.outcome == .sent })
        // Each event names the medium's file too: the outbox copy is gone.
        #expect(Set(events.compactMap(\.sourcePath)).count == 5)
        #expect(events.allSatisfy { $0.path.contains("/outbox/") && $0.sourcePath?.contains("/outbox/") == false })
        try store.flush()
        #expect(try store.instances().isEmpty, "nothing in the local store")
        #expect(files(under: home + "/instances").isEmpty)
        #expect(files(under: home + "/outbox").isEmpty, "outbox copies removed once acknowledged")
        #expect(try store.imports().count == 1, "the import run is recorded")
        #expect(try store.sendQueue(node: "pacs", state: .sent).count == 5)
        #expect(try store.sendQueue(node: "pacs").allSatisfy { $0.contentSHA256 != nil })
        try receiver.store.flush()
        let received = try receiver.store.instances()
        #expect(received.count == 5)
        for instance in received {
            let file = try DICOMFile(contentsOf: instance.path)
            #expect(file.dataset.firstString(.patientID) == "LOCAL-7", "coerced before sending")
        }

        // The same disc again: every instance found acknowledged, nothing sent.
        let (again, _) = try await offPool {
            try importSending(Disc.sample, store: store, peer: peer, keepInStore: false, decision: local)
        }
        #expect(again.send?.sent == 0)
        #expect(again.send?.alreadySent == 5)
        #expect(again.exitStatus == 0)
        #expect(files(under: home + "/outbox").isEmpty)
        try receiver.store.flush()
        #expect(try receiver.store.instances().count == 5)

        // A disc with other content under one of those UIDs: reported, not sent.
        let modified = scratch.path + "/modified"
        _ = try Disc.copySampleModified(to: modified)
        let (conflicting, conflictEvents) = try await offPool {
            try importSending(modified, store: store, peer: peer, keepInStore: false, decision: local)
        }
        #expect(conflicting.send?.conflicts == 1)
        #expect(conflicting.exitStatus == 1)
        #expect(conflictEvents.contains { $0.outcome == .conflict && $0.message?.contains("other content") == true })
        try store.close()
        try await receiver.stop()
    }

    @Test("--no-store with the node down: the outbox keeps the instances pending; `send --to` finishes them")
    func noStoreResumes() async throws {
        let scratch = Scratch()
        let home = scratch.sub("home")
        let store = try openStore(home)
        // A port nothing listens on: a receiver started and stopped.
        let gone = try await Receiver(home: scratch.sub("gone"))
        let deadPort = gone.port
        try await gone.stop()
        let deadPeer = try addNode(to: store, port: deadPort)
        let (failed, _) = try await offPool {
            try importSending(Disc.sample, store: store, peer: deadPeer, keepInStore: false, decision: .keepSourceIdentity)
        }
        #expect(failed.send?.failed == 5)
        #expect(failed.send?.pending == 5)
        #expect(failed.exitStatus == 1)
        #expect(files(under: home + "/outbox").count == 5, "pending instances wait in the outbox")
        #expect(try store.instances().isEmpty)

        let receiver = try await Receiver(home: scratch.sub("pacs"))
        let peer = try addNode(to: store, port: receiver.port)
        let resumed = try await offPool { try SendJob(store: store, peer: peer).run(targets: []) }
        #expect(resumed.sent == 5 && resumed.resumed == 5 && resumed.complete)
        #expect(files(under: home + "/outbox").isEmpty)
        try receiver.store.flush()
        let received = try receiver.store.instances()
        #expect(received.count == 5)
        var sample: [String: String] = [:]
        for relative in files(under: Disc.sample + "/DICOM") {
            let path = Disc.sample + "/DICOM/" + relative
            if let uid = (try? DICOMFile(contentsOf: path, options: .header))?.sopInstanceUID { sample[UID.trimmed(uid)] = path }
        }
        for instance in received {
            #expect(try pixelTail(instance.path) == pixelTail(try #require(sample[instance.sopInstanceUID])), "as on the disc")
        }
        // Already there: the disc again sends nothing.
        let (again, _) = try await offPool {
            try importSending(Disc.sample, store: store, peer: peer, keepInStore: false, decision: .keepSourceIdentity)
        }
        #expect(again.send?.sent == 0 && again.send?.alreadySent == 5)
        try store.close()
        try await receiver.stop()
    }

    @Test("a node that accepts only uncompressed syntaxes gets RLE decompressed, pixels identical, reported")
    func losslessFallback() async throws {
        let scratch = Scratch()
        let receiver = try await Receiver(home: scratch.sub("pacs"), acceptedTransferSyntaxes: [
            TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid])
        let store = try openStore(scratch.sub("home"))
        let peer = try addNode(to: store, port: receiver.port)
        let native = ctImage(sop: "1.2.3.902.1")
        let rle = try Transcoder.transcode(native, to: .rle)
        let path = scratch.sub("files") + "/rle.dcm"
        try DICOMWriter.encode(rle).write(to: URL(fileURLWithPath: path))
        let events = LockedEvents()
        let summary = try await offPool {
            try SendJob(store: store, peer: peer).run(targets: [path]) { events.append($0) }
        }
        #expect(summary.sent == 1 && summary.converted == 1)
        let event = try #require(events.all.first)
        #expect(event.convertedFrom == TransferSyntax.rleLossless.uid)
        #expect(event.transferSyntaxUID == TransferSyntax.explicitVRLittleEndian.uid)
        try receiver.store.flush()
        let stored = try #require(try receiver.store.instances().first)
        let file = try DICOMFile(contentsOf: stored.path)
        #expect(file.transferSyntax == .explicitVRLittleEndian)
        #expect(file.dataset[.pixelData]?.bytes == native.dataset[.pixelData]?.bytes, "pixels bit-identical")
        #expect(file.dataset.firstString(DICOM.Tag(0x0028, 0x2110)) != "01", "not marked lossy")
        try store.close()
        try await receiver.stop()
    }

    @Test("a store file damaged since it was stored is not sent (the others are), and a later send still refuses it")
    func damagedStoreFileIsNotSent() async throws {
        let scratch = Scratch()
        let receiver = try await Receiver(home: scratch.sub("pacs"))
        let store = try openStore(scratch.sub("home"))
        _ = try importAll(Disc.sample, into: store, decision: .keepSourceIdentity)
        try store.flush()
        let instances = try store.instances()
        let victim = try #require(instances.first)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim.path))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: victim.path))
        let peer = try addNode(to: store, port: receiver.port)
        let summary = try await offPool { try SendJob(store: store, peer: peer).run(targets: [victim.patientID]) }
        #expect(summary.sent == instances.count - 1)
        #expect(summary.failed == 1)
        let failure = try #require(summary.failures.first)
        #expect(failure.sopInstanceUID == victim.sopInstanceUID)
        #expect(failure.message?.contains("its content changed since it was stored") == true)
        try receiver.store.flush()
        #expect(try receiver.store.instance(sopInstanceUID: victim.sopInstanceUID) == nil)
        let again = try await offPool { try SendJob(store: store, peer: peer).run(targets: [victim.patientID]) }
        #expect(again.failed == 1 && again.sent == 0 && again.alreadySent == instances.count - 1)
        try store.close()
        try await receiver.stop()
    }

    @Test("files of one send with the same SOP Instance UID: one sent, a copy skipped, other content failed, each named")
    func sameUIDTwiceIsNamed() async throws {
        let scratch = Scratch()
        let receiver = try await Receiver(home: scratch.sub("pacs"))
        let store = try openStore(scratch.sub("home"))
        let peer = try addNode(to: store, port: receiver.port)
        let folder = scratch.sub("files")
        let image = ctImage(sop: "1.2.3.904.1")
        try DICOMWriter.encode(image).write(to: URL(fileURLWithPath: folder + "/a.dcm"))
        try DICOMWriter.encode(image).write(to: URL(fileURLWithPath: folder + "/b.dcm"))
        var other = image
        try other.dataset.setString("Other^Content", vr: .PN, for: .patientName)
        try DICOMWriter.encode(other).write(to: URL(fileURLWithPath: folder + "/c.dcm"))
        let events = LockedEvents()
        let summary = try await offPool {
            try SendJob(store: store, peer: peer).run(targets: [folder]) { events.append($0) }
        }
        #expect(summary.sent == 1 && summary.skipped == 1 && summary.failed == 1)
        #expect(!summary.complete)
        #expect(events.all.count == 3)
        let copy = try #require(events.all.first { $0.path.hasSuffix("/b.dcm") })
        #expect(copy.outcome == .skipped && copy.message?.contains("a.dcm") == true)
        let clash = try #require(events.all.first { $0.path.hasSuffix("/c.dcm") })
        #expect(clash.outcome == .failed && clash.message?.contains("other content") == true)
        try store.close()
        try await receiver.stop()
    }

    @Test("listen logs a duplicate and a conflict kept aside as such, not as an instance stored")
    func listenNamesDuplicatesAndConflicts() async throws {
        let scratch = Scratch()
        let messages = Mutex<[String: [String?]]>([:])
        let receiver = try await Receiver(home: scratch.sub("pacs")) { event in
            if case .stored(let instance, _, let message) = event {
                messages.withLock { $0[instance.sopInstanceUID, default: []].append(message) }
            }
        }
        let image = ctImage(sop: "1.2.3.905.1")
        var other = image
        try other.dataset.setString("Other^Content", vr: .PN, for: .patientName)
        for (index, file) in [image, image, other].enumerated() {
            // A sender store each: none knows the others were sent.
            let store = try openStore(scratch.sub("sender\(index)"))
            let peer = try addNode(to: store, port: receiver.port)
            let path = scratch.sub("files\(index)") + "/i.dcm"
            try DICOMWriter.encode(file).write(to: URL(fileURLWithPath: path))
            let summary = try await offPool { try SendJob(store: store, peer: peer).run(targets: [path]) }
            #expect(summary.sent == 1)
            try store.close()
        }
        let logged = messages.withLock { $0["1.2.3.905.1"] ?? [] }
        #expect(logged.count == 3)
        #expect(logged.first == .some(nil))
        #expect(logged.dropFirst().first??.hasPrefix("duplicate") == true)
        #expect(logged.last??.contains("conflict") == true && logged.last??.contains("kept aside") == true)
        try await receiver.stop()
    }

    @Test("a node that accepts only RLE refuses an uncompressed file: reported, never compressed")
    func refusalIsReported() async throws {
        let scratch = Scratch()
        let receiver = try await Receiver(home: scratch.sub("pacs"), acceptedTransferSyntaxes: [TransferSyntax.rleLossless.uid])
        let store = try openStore(scratch.sub("home"))
        let peer = try addNode(to: store, port: receiver.port)
        let path = scratch.sub("files") + "/native.dcm"
        try DICOMWriter.encode(ctImage(sop: "1.2.3.903.1")).write(to: URL(fileURLWithPath: path))
        let summary = try await offPool { try SendJob(store: store, peer: peer).run(targets: [path]) }
        #expect(summary.failed == 1 && summary.pending == 1)
        let message = try #require(summary.failures.first?.message)
        #expect(message.contains("none of the transfer syntaxes proposed") && message.contains("compresses nothing"), "\(message)")
        try store.close()
        try await receiver.stop()
    }

    @Test("C-GET storage classes: configured, else the node's C-FIND, else the common set; within 128 contexts")
    func getStorageClasses() async throws {
        let scratch = Scratch()
        let receiver = try await Receiver(home: scratch.sub("pacs"))
        let store = try openStore(scratch.sub("home"))
        let peer = try addNode(to: store, port: receiver.port)
        let job = RetrieveJob(store: store, peer: peer)
        let configured = job.storageClasses(for: RetrieveRequest(.study("1.2.3"), storageClasses: ["1.2.840.10008.5.1.4.1.1.2"]))
        #expect(configured.0 == ["1.2.840.10008.5.1.4.1.1.2"] && configured.1 == .configured)
        // discport's SCP answers no C-FIND: the common set.
        let fallback = try await offPool { job.storageClasses(for: RetrieveRequest(.study("1.2.3"))) }
        #expect(fallback.1 == .common && fallback.0 == RetrieveSCU.getStorageClasses)
        let image = RetrieveRequest(.series(study: "1.2.3", series: "1.2.3.4")).imageQuery
        #expect(image.level == .image && image.keys.contains { $0.tag == .sopClassUID })

        for (count, perClass) in [(1, 3), (36, 3), (50, 2), (127, 1)] {
            let classes = (0..<count).map { "1.2.840.10008.5.1.4.1.1.\(1000 + $0)" }
            let (contexts, roles, left) = RetrieveSCU.getContexts(model: "1.2.840.10008.5.1.4.1.2.2.3", storageClasses: classes)
            #expect(contexts.count == 1 + count * perClass && contexts.count <= 128)
            #expect(roles.count == count && left.isEmpty)
            #expect(Set(contexts.map(\.id)).count == contexts.count && contexts.allSatisfy { $0.id % 2 == 1 })
        }
        let many = (0..<200).map { "1.2.840.10008.5.1.4.1.1.\(1000 + $0)" }
        let (contexts, _, left) = RetrieveSCU.getContexts(model: "1.2.840.10008.5.1.4.1.2.2.3", storageClasses: many)
        #expect(contexts.count == 128 && left.count == 73)
        try store.close()
        try await receiver.stop()
    }

    @Test("find: the C-FIND model per level, the QIDO-RS form, and a node that refuses C-FIND is an error")
    func query() async throws {
        #expect(QueryRequest(level: .patient).findQuery.model == .patientRoot)
        #expect(QueryRequest(level: .study).findQuery.model == .studyRoot)
        #expect(QueryRequest(level: .study, model: .patientRoot).findQuery.model == .patientRoot)
        #expect(QueryRequest(level: .worklist).findQuery.model == .modalityWorklist)
        #expect(QueryRequest(level: .series).findQuery.level == .series)
        let series = try QueryRequest(level: .series, keys: [(.studyInstanceUID, "1.2.3"), (.modality, "CT")]).qido()
        #expect(series.resource == "studies/1.2.3/series")
        #expect(series.keys.map(\.0) == ["Modality"])
        let patients = try QueryRequest(level: .patient, keys: [(.patientName, "Yamada*")]).qido()
        #expect(patients.resource == "studies" && patients.keys.map(\.0) == ["PatientName"])
        #expect(throws: QueryError.self) { try QueryRequest(level: .worklist).qido() }

        let scratch = Scratch()
        let receiver = try await Receiver(home: scratch.sub("pacs"))
        let store = try openStore(scratch.sub("home"))
        let peer = try addNode(to: store, port: receiver.port)
        await #expect(throws: (any Error).self) {
            try await offPool { try QueryJob(peer: peer).run(QueryRequest(level: .patient)) }
        }
        #expect(try await offPool { peer.echo() }.ok, "C-ECHO through the job")
        try store.close()
        try await receiver.stop()
    }
}
