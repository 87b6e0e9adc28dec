import DICOM
import Foundation
import Network
import Store
import Synchronization

/// What to retrieve from a node, and how.
public struct RetrieveRequest: Sendable {
    public enum Selection: Sendable, Hashable {
        /// Every study of the patient.
        case patient(String)
        case study(String)
        case series(study: String, series: String)
    }

    public enum Method: Sendable {
        /// C-GET: the instances come back on the same association.
        case get
        /// C-MOVE to discport's own storage SCP, run for the retrieve with
        /// this configuration (its AE title is the move destination).
        case move(DICOMServer.Configuration)
    }

    public var selection: Selection
    public var method: Method
    /// C-GET: the storage SOP classes to receive. nil: those a C-FIND at
    /// IMAGE level finds in the selection, else ``RetrieveSCU/getStorageClasses``.
    public var storageClasses: [String]?

    public init(_ selection: Selection, method: Method = .get, storageClasses: [String]? = nil) {
        self.selection = selection
        self.method = method
        self.storageClasses = storageClasses
    }

    /// The C-GET/C-MOVE identifier: patient root for a patient, study root otherwise.
    public var query: FindQuery {
        switch selection {
        case .patient(let id): FindQuery(model: .patientRoot, level: .patient, keys: [(.patientID, id)])
        case .study(let uid): FindQuery(model: .studyRoot, level: .study, keys: [(.studyInstanceUID, uid)])
        case .series(let study, let series):
            FindQuery(model: .studyRoot, level: .series, keys: [(.studyInstanceUID, study), (.seriesInstanceUID, series)])
        }
    }

    /// The C-FIND at IMAGE level that lists the selection's SOP classes.
    public var imageQuery: FindQuery {
        var query = self.query
        query.level = .image
        query.keys.append((.sopClassUID, ""))
        return query
    }

    var label: String {
        switch selection {
        case .patient(let id): id
        case .study(let uid): uid
        case .series(_, let uid): uid
        }
    }
}

/// Progress of a retrieve.
public enum RetrieveEvent: Sendable {
    /// C-GET: the storage classes proposed, and where the list came from.
    case storageClasses([String], source: StorageClassSource)
    /// One instance received (stored, duplicate, or refused with a status).
    case instance(sopInstanceUID: String, status: DIMSEStatus, message: String?)

    public enum StorageClassSource: String, Sendable {
        case configured, query, common
    }
}

/// The end of a retrieve: the node's result and what the store did with it.
public struct RetrieveSummary: Sendable {
    /// "C-GET", "C-MOVE" or "WADO-RS".
    public var method: String
    public var result: RetrieveResult
    public var importID: Int64
    /// Instances stored new, and those the store already had.
    public var stored: Int
    public var duplicates: Int
}

/// `discport get`, `export --from`: retrieves a patient, a study or a series
/// from a node into the store — C-GET (the instances come back on the same
/// association), C-MOVE to discport's own SCP, or WADO-RS for a DICOMweb
/// node. Every received instance is stored as `discport listen` stores it
/// (one import run; duplicates skipped, conflicts kept aside).
///
/// C-GET must name, as SCP role presentation contexts, every storage SOP
/// class it will receive, and an association has at most 128 contexts: the
/// job first asks the node (C-FIND at IMAGE level) which classes the
/// selection holds and proposes those, falling back to the common set
/// when the node does not answer; an instance of a class not negotiated
/// fails at the node, and the result names the classes.
public final class RetrieveJob: Sendable {
    public let store: InstanceStore
    public let peer: RemotePeer

    public init(store: InstanceStore, peer: RemotePeer) {
        self.store = store
        self.peer = peer
    }

    /// Runs the retrieve. Throws when the node refused or could not be
    /// reached (the import run is closed as failed); sub-operation failures
    /// are in the result.
    public func run(_ request: RetrieveRequest, events: @escaping @Sendable (RetrieveEvent) -> Void = { _ in }) throws -> RetrieveSummary {
        let method: String = if peer.endpoint != nil { "WADO-RS" } else if case .move = request.method { "C-MOVE" } else { "C-GET" }
        if peer.endpoint != nil, case .move = request.method {
            throw RemoteNodeError("--move is for DIMSE nodes; a DICOMweb node is read with WADO-RS")
        }
        let node = peer.node
        let importID = try store.beginImport(ImportSource(
            location: "dicom://\(node.aeTitle)@\(node.host):\(node.port)/\(request.label)", kind: "network", label: method))
        let result: RetrieveResult
        do {
            if let endpoint = peer.endpoint {
                result = try wado(endpoint, request: request, importID: importID, events: events)
            } else if case .move(let configuration) = request.method {
                result = try move(request, configuration: configuration, importID: importID, events: events)
            } else {
                result = try get(request, importID: importID, events: events)
            }
        } catch {
            _ = try? store.finishImport(importID, status: .failed, note: "\(error)")
            throw error
        }
        let record = try store.finishImport(importID, status: result.isSuccess ? .completed : .failed, note: result.errors.first)
        return RetrieveSummary(method: method, result: result, importID: importID, stored: record.stored, duplicates: record.duplicates)
    }

    /// The storage classes to propose for a C-GET of the request, and where
    /// they came from: configured, found by a C-FIND at IMAGE level, or the
    /// common set when the query fails or finds none.
    public func storageClasses(for request: RetrieveRequest) -> ([String], RetrieveEvent.StorageClassSource) {
        if let configured = request.storageClasses, !configured.isEmpty { return (configured, .configured) }
        if let found = classesInSelection(request), !found.isEmpty { return (found, .query) }
        return (RetrieveSCU.getStorageClasses, .common)
    }

    /// The distinct SOP Class UIDs of the selection (C-FIND at IMAGE
    /// level); nil when the node does not answer that query.
    func classesInSelection(_ request: RetrieveRequest) -> [String]? {
        let query = request.imageQuery
        let parameters = peer.parameters
        guard let found = try? runBlocking({ try await FindSCU.find(query, parameters: parameters) }) else { return nil }
        var seen = Set<String>()
        return found.compactMap { $0.string(.sopClassUID).map(UID.trimmed) }.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    private func get(_ request: RetrieveRequest, importID: Int64, events: @escaping @Sendable (RetrieveEvent) -> Void) throws -> RetrieveResult {
        let (classes, source) = storageClasses(for: request)
        events(.storageClasses(classes, source: source))
        let spool = try store.temporaryDirectory()
        let store = self.store
        let parameters = peer.parameters
        let query = request.query
        var result = try runBlocking {
            try await RetrieveSCU.get(query, parameters: parameters, spoolDirectory: spool, storageClasses: classes) { instance in
                let (status, message) = ListenJob.importReceived(instance, store: store, importID: importID)
                events(.instance(sopInstanceUID: instance.sopInstanceUID, status: status, message: message))
                return (status, message)
            }
        }
        // Failed sub-operations: name the classes of the selection that
        // were not negotiated (the node cannot send those instances on
        // this association), and the instances the node listed.
        if result.failed > 0 {
            var text = "\(result.failed) instance(s) were not received"
            if !result.failedInstances.isEmpty { text += " (\(result.failedInstances.prefix(10).joined(separator: ", "))\(result.failedInstances.count > 10 ? ", …" : ""))" }
            let proposed = Set(classes)
            if let missing = classesInSelection(request)?.filter({ !proposed.contains($0) }), !missing.isEmpty {
                text += "; SOP classes of the selection not negotiated for C-GET (\(source.rawValue) list): "
                    + missing.map { uid in UIDRegistry.name(for: uid).map { "\($0) (\(uid))" } ?? uid }.joined(separator: ", ")
            }
            result.errors.append(text)
        }
        return result
    }

    private func move(_ request: RetrieveRequest, configuration: DICOMServer.Configuration, importID: Int64,
                      events: @escaping @Sendable (RetrieveEvent) -> Void) throws -> RetrieveResult {
        let listener = ListenJob(store: store, configuration: configuration)
        let parameters = peer.parameters
        let query = request.query
        return try runBlocking {
            let server = try await listener.startServer(importID: importID) { event in
                if case .stored(let instance, let status, let message) = event {
                    events(.instance(sopInstanceUID: instance.sopInstanceUID, status: status, message: message))
                }
            }
            do {
                let result = try await RetrieveSCU.move(query, parameters: parameters, destination: configuration.aeTitle)
                await server.stop()
                return result
            } catch {
                await server.stop()
                throw error
            }
        }
    }

    /// WADO-RS: the study (or series), or every study of the patient found
    /// by QIDO-RS; each part stored as it is.
    private func wado(_ endpoint: DICOMwebEndpoint, request: RetrieveRequest, importID: Int64,
                      events: @escaping @Sendable (RetrieveEvent) -> Void) throws -> RetrieveResult {
        let store = self.store
        let base = peer.node.url ?? ""
        let selection = request.selection
        return try runBlocking { () -> RetrieveResult in
            var studies: [String] = []
            var series: String?
            switch selection {
            case .patient(let patientID):
                let data = try await DICOMweb.search(endpoint, resource: "studies", keys: [("PatientID", patientID)])
                let rows = (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
                studies = rows.compactMap { (($0["0020000D"] as? [String: Any])?["Value"] as? [Any])?.first as? String }
            case .study(let uid): studies = [uid]
            case .series(let study, let uid): (studies, series) = ([study], uid)
            }
            var result = RetrieveResult(status: "HTTP 200")
            for uid in studies {
                _ = try await DICOMweb.retrieve(endpoint, studyUID: uid, seriesUID: series) { part in
                    result.received += 1
                    do {
                        let header = try DICOMFile(data: part, options: .header)
                        let summary = InstanceSummary(file: header)
                        _ = try store.store(.data(part, originalPath: "\(base)/studies/\(uid)/instances/\(summary.sopInstanceUID)"),
                                            summary: summary, importID: importID)
                        result.completed += 1
                        events(.instance(sopInstanceUID: summary.sopInstanceUID, status: .success, message: nil))
                    } catch {
                        result.failed += 1
                        result.errors.append("\(error)")
                    }
                }
            }
            result.status = DIMSEStatus.success.hex
            return result
        }
    }
}
