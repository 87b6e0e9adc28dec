import Codecs
import DICOM
import Foundation
import Network
import Store
import Synchronization

/// What `discport send` reports for each instance.
public struct SendEvent: Sendable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// The node acknowledged it (success or warning status).
        case sent
        /// Acknowledged by an earlier send: not sent again.
        case alreadySent = "already-sent"
        /// Not acknowledged; stays in the retry queue.
        case failed
        /// Not a DICOM instance discport can send (README, DICOMDIR, …), or
        /// a second copy of an instance another file of the send holds.
        case skipped
        /// The node has acknowledged this SOP Instance UID made from other
        /// content (a content-keyed send): not sent over it.
        case conflict
    }

    public var path: String
    public var sopInstanceUID: String?
    public var outcome: Outcome
    /// `0x0000` style, when the node answered.
    public var status: String?
    public var transferSyntaxUID: String?
    /// The file's own transfer syntax, when the instance travelled in
    /// another (`transferSyntaxUID`) because the node did not accept it:
    /// re-encoded, or decompressed losslessly.
    public var convertedFrom: String?
    public var message: String?
    /// `import --send`: the file on the medium the instance came from
    /// (with `--no-store`, ``path`` is its outbox copy, which is removed
    /// once the node acknowledged it).
    public var sourcePath: String?

    public init(path: String, sopInstanceUID: String?, outcome: Outcome, status: String? = nil,
                transferSyntaxUID: String? = nil, convertedFrom: String? = nil, message: String? = nil) {
        self.path = path
        self.sopInstanceUID = sopInstanceUID
        self.outcome = outcome
        self.status = status
        self.transferSyntaxUID = transferSyntaxUID
        self.convertedFrom = convertedFrom
        self.message = message
    }
}

public struct SendSummary: Sendable, Codable {
    public var node: String
    public var sent = 0
    public var alreadySent = 0
    public var failed = 0
    public var skipped = 0
    /// Of `failed`, instances not sent because the node has their UID
    /// from other content.
    public var conflicts = 0
    /// Of `sent`, instances that travelled in another transfer syntax than
    /// their file's (the node did not accept it; converted losslessly).
    public var converted = 0
    /// Of `sent`, instances queued by an earlier, interrupted send.
    public var resumed = 0
    public var bytes: Int64 = 0
    public var seconds: Double = 0
    public var failures: [SendEvent] = []
    /// Still pending in the retry queue after this run.
    public var pending = 0

    public var complete: Bool { failed == 0 && pending == 0 }
}

/// Sends instances to a DICOM node with C-STORE (or to a DICOMweb node
/// with STOW-RS): files and folders on disk, or patients, studies, series
/// and instances of the store.
///
/// Every instance goes through the retry queue (`send_queue` of the
/// catalog): queued before the first association, marked sent when the
/// node acknowledges it. A send that is interrupted (the node dies, the
/// process is killed) is finished by the next `send` to that node, which
/// also sends what is still pending; an acknowledged instance is never
/// sent again.
public final class SendJob: Sendable {
    public let store: InstanceStore
    public let peer: RemotePeer
    public var node: RemoteNodeRecord { peer.node }

    public init(store: InstanceStore, peer: RemotePeer) {
        self.store = store
        self.peer = peer
    }

    /// The files of the targets: a path (file, or folder walked
    /// recursively), else a Patient ID or Study/Series/SOP Instance UID of
    /// the store. Targets that name nothing are returned in `unknown`.
    public func resolve(_ targets: [String]) throws -> (files: [String], unknown: [String]) {
        var files: [String] = []
        var unknown: [String] = []
        let fm = FileManager.default
        for target in targets {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: target, isDirectory: &isDirectory) {
                let base = target.hasPrefix("/") ? target : fm.currentDirectoryPath + "/" + target
                if isDirectory.boolValue {
                    let found = (fm.enumerator(atPath: base)?.compactMap { $0 as? String } ?? []).sorted()
                    for relative in found {
                        var sub: ObjCBool = false
                        let path = base + "/" + relative
                        if fm.fileExists(atPath: path, isDirectory: &sub), !sub.boolValue { files.append(path) }
                    }
                } else {
                    files.append(base)
                }
                continue
            }
            let lookup = try store.lookup(target)
            var paths: [String] = lookup.instances.map(\.storedPath)
            for series in lookup.series {
                paths += try store.instances(seriesInstanceUID: series.seriesInstanceUID).map(\.storedPath)
            }
            var studies = lookup.studies.map(\.studyInstanceUID)
            for patient in lookup.patients {
                studies += try store.studies(patientID: patient.patientID).map(\.studyInstanceUID)
            }
            for study in studies {
                for series in try store.series(studyInstanceUID: study) {
                    paths += try store.instances(seriesInstanceUID: series.seriesInstanceUID).map(\.storedPath)
                }
            }
            // Catalog paths are relative to the store's home.
            paths = paths.map { $0.hasPrefix("/") ? $0 : store.home + "/" + $0 }
            if paths.isEmpty { unknown.append(target) } else { files += paths }
        }
        return (files, unknown)
    }

    /// Sends the targets (and whatever an earlier send left pending).
    public func run(targets: [String], parallel: Int = 1,
                    events: @escaping @Sendable (SendEvent) -> Void = { _ in }) throws -> SendSummary {
        let (files, unknown) = try resolve(targets)
        if !unknown.isEmpty {
            throw SendJobError("nothing in the store or on disk is named \(unknown.joined(separator: ", "))")
        }
        return try send(files.map { ($0, nil) }, parallel: parallel, events: events)
    }

    /// Sends files (and whatever an earlier send left pending). A file
    /// given a content key (SHA-256 of what it was made from: `import
    /// --no-store`) is queued with it: when the node has acknowledged its
    /// SOP Instance UID with the same key it is not sent again, with
    /// another key it is reported as a conflict and not sent. Files in the
    /// outbox (``InstanceStore/writeOutgoing(_:summary:node:)``) are
    /// removed once acknowledged. `checkStored`: a file of the store is
    /// hashed first and not sent when it no longer matches the catalog
    /// (an import sending what it has just stored and hashed skips that).
    public func send(_ files: [(path: String, contentSHA256: String?)], parallel: Int = 1, checkStored: Bool = true,
                     events: @escaping @Sendable (SendEvent) -> Void = { _ in }) throws -> SendSummary {
        let clock = ContinuousClock.now
        var summary = SendSummary(node: node.name)
        let known = Dictionary(try store.sendQueue(node: node.name).map { ($0.sopInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })

        // 1. Headers; one item per SOP Instance UID.
        var items: [StoreItem] = []
        var keys: [String: String] = [:]
        var seen: [String: StoreItem] = [:]
        var damaged = Set<String>()
        for (path, key) in files {
            do {
                let item = try StoreItem(path: path)
                guard item.sopClassUID != "1.2.840.10008.1.3.10" else {   // a DICOMDIR is not an instance
                    throw DICOMError(.invalidValue, "a DICOMDIR is not sent")
                }
                // One instance per SOP Instance UID (a node keeps one): a
                // second file of the UID is named, never dropped silently.
                if let first = seen[item.sopInstanceUID] {
                    if first.path == item.path {
                        continue   // one file named twice (a disc's duplicate, both stored as one)
                    } else if SendJob.sameDataSet(first, item) {
                        summary.skipped += 1
                        events(SendEvent(path: path, sopInstanceUID: item.sopInstanceUID, outcome: .skipped,
                                         message: "the same instance as \(first.path): sent once"))
                    } else {
                        summary.failed += 1
                        let event = SendEvent(path: path, sopInstanceUID: item.sopInstanceUID, outcome: .failed,
                                              message: "not sent: \(first.path) of this send has SOP Instance UID \(item.sopInstanceUID) too, with other content; only that one is sent (a node keeps one instance per UID): find out which is right")
                        summary.failures.append(event)
                        events(event)
                    }
                    continue
                }
                seen[item.sopInstanceUID] = item
                // A damaged store file is not sent as if it were the image stored.
                if checkStored, let damage = try store.damage(of: path, sopInstanceUID: item.sopInstanceUID) {
                    damaged.insert(item.sopInstanceUID)
                    summary.failed += 1
                    let event = SendEvent(path: path, sopInstanceUID: item.sopInstanceUID, outcome: .failed, message: "not sent: \(damage)")
                    summary.failures.append(event)
                    events(event)
                    continue
                }
                if let key, let entry = known[item.sopInstanceUID], entry.state == .sent,
                   let sentKey = entry.contentSHA256, sentKey != key {
                    summary.conflicts += 1
                    summary.failed += 1
                    let event = SendEvent(path: path, sopInstanceUID: item.sopInstanceUID, outcome: .conflict,
                                          message: "\(node.name) has already acknowledged SOP Instance \(item.sopInstanceUID) made from other content: not sent over it")
                    summary.failures.append(event)
                    store.removeOutgoing(path)   // the medium still holds it; nothing to keep for the node
                    events(event)
                    continue
                }
                if let key { keys[item.sopInstanceUID] = key }
                items.append(item)
            } catch {
                summary.skipped += 1
                events(SendEvent(path: path, sopInstanceUID: nil, outcome: .skipped, message: "\(error)"))
            }
        }

        // 2. Into the queue (committed), then everything pending for the node.
        try store.enqueueSends(node: node.name, items: items.map {
            SendQueueItem(sopInstanceUID: $0.sopInstanceUID, path: $0.path, contentSHA256: keys[$0.sopInstanceUID])
        })
        try store.flush()
        let pending = try store.sendQueue(node: node.name, state: .pending)
        let pendingUIDs = Set(pending.map(\.sopInstanceUID))
        for item in items where !pendingUIDs.contains(item.sopInstanceUID) {
            store.removeOutgoing(item.path)
            summary.alreadySent += 1
            events(SendEvent(path: item.path, sopInstanceUID: item.sopInstanceUID, outcome: .alreadySent))
        }
        let thisRun = Dictionary(items.map { ($0.sopInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })
        var toSend: [StoreItem] = []
        var resumedUIDs = Set<String>()
        for entry in pending where !damaged.contains(entry.sopInstanceUID) {
            if let item = thisRun[entry.sopInstanceUID] {
                toSend.append(item)
                continue
            }
            do {
                let item = try StoreItem(path: entry.path)
                guard item.sopInstanceUID == entry.sopInstanceUID else {
                    throw DICOMError(.invalidValue, "the file now holds SOP Instance \(item.sopInstanceUID)")
                }
                if checkStored, let damage = try store.damage(of: entry.path, sopInstanceUID: item.sopInstanceUID) {
                    throw SendJobError(damage)
                }
                toSend.append(item)
                resumedUIDs.insert(item.sopInstanceUID)
            } catch {
                summary.failed += 1
                let event = SendEvent(path: entry.path, sopInstanceUID: entry.sopInstanceUID, outcome: .failed,
                                      message: "queued by an earlier send, cannot be read now: \(error)")
                summary.failures.append(event)
                try store.recordSend(node: node.name, sopInstanceUID: entry.sopInstanceUID, sent: false, error: event.message)
                events(event)
            }
        }

        // 3. C-STORE, each outcome recorded in the queue as it comes.
        let tally = Mutex(summary)
        let store = self.store
        let nodeName = node.name
        let parameters = peer.parameters
        let recordError = Mutex<(any Error)?>(nil)
        let sendItems = toSend
        let resumed = resumedUIDs
        let endpoint = peer.endpoint
        try runBlocking {
            let record: @Sendable (SendOutcome) -> Void = { outcome in
                let done = outcome.isDone
                var message = outcome.error ?? outcome.note
                if let status = outcome.status, !done {
                    message = "\(status)" + (outcome.errorComment.map { ": \($0)" } ?? "")
                } else if let status = outcome.status, status.kind == .warning {
                    message = "\(status)" + (outcome.errorComment.map { ": \($0)" } ?? "")
                }
                let event = SendEvent(path: outcome.item.path, sopInstanceUID: outcome.item.sopInstanceUID,
                                      outcome: done ? .sent : .failed, status: outcome.status?.hex,
                                      transferSyntaxUID: outcome.transferSyntaxUID,
                                      convertedFrom: outcome.status == nil ? nil : outcome.convertedFrom, message: message)
                do {
                    try store.recordSend(node: nodeName, sopInstanceUID: outcome.item.sopInstanceUID, sent: done,
                                         status: outcome.status.map { Int($0.code) }, error: done ? nil : message)
                    if done { store.removeOutgoing(outcome.item.path) }
                } catch {
                    recordError.withLock { $0 = $0 ?? error }
                }
                tally.withLock { s in
                    if done {
                        s.sent += 1
                        s.bytes += Int64(outcome.item.fileSize)
                        if outcome.convertedFrom != nil { s.converted += 1 }
                        if resumed.contains(outcome.item.sopInstanceUID) { s.resumed += 1 }
                    } else {
                        s.failed += 1
                        s.failures.append(event)
                    }
                }
                events(event)
            }
            if let endpoint {
                await DICOMweb.store(sendItems, endpoint: endpoint, report: record)
            } else {
                await StoreSCU.send(sendItems, parameters: parameters, parallel: parallel,
                                    decompress: SendJob.decompress, report: record)
            }
        }
        try store.flush()
        if let error = recordError.withLock({ $0 }) { throw error }
        summary = tally.withLock { $0 }
        summary.pending = try store.sendQueue(node: node.name, state: .pending).count
        let elapsed = ContinuousClock.now - clock
        summary.seconds = elapsed / .seconds(1)
        return summary
    }
}

extension SendJob {
    /// Whether two files hold the same data set bytes (their file meta
    /// information aside) in the same transfer syntax.
    static func sameDataSet(_ a: StoreItem, _ b: StoreItem) -> Bool {
        guard a.transferSyntax == b.transferSyntax, a.encodedAs == b.encodedAs,
              a.fileSize - a.datasetOffset == b.fileSize - b.datasetOffset,
              let x = try? Data(contentsOf: URL(fileURLWithPath: a.path), options: .alwaysMapped),
              let y = try? Data(contentsOf: URL(fileURLWithPath: b.path), options: .alwaysMapped),
              x.count >= a.datasetOffset, y.count >= b.datasetOffset else { return false }
        return x[(x.startIndex + a.datasetOffset)...] == y[(y.startIndex + b.datasetOffset)...]
    }

    /// The lossless fallback of ``StoreSCU``: a compressed file decoded by
    /// the Codecs transcoder into the native syntax the node accepted. The
    /// SOP Instance UID stays (PS3.5 §8); a lossy source keeps Lossy Image
    /// Compression 01 and its method.
    public static let decompress: StoreSCU.Decompressor = { path, target in
        let file = try DICOMFile(contentsOf: path)
        let decoded = try Transcoder.transcode(file, to: target == .implicitVRLittleEndian ? .implicitLE : .explicitLE)
        return try DICOMWriter.encode(decoded.dataset, transferSyntax: target)
    }
}

public struct SendJobError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
