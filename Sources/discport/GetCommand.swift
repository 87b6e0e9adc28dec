import ArgumentParser
import DICOM
import Foundation
import Jobs
import Network
import Store

/// `discport get NODE --study UID | --patient-id ID [--move …]`.
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Retrieve a patient's, a study's or a series' instances from a node into the store (C-GET, or C-MOVE).",
        discussion: """
        A DICOMweb node is read with WADO-RS (QIDO-RS first for --patient-id). \
        C-GET (default): the node sends the instances back on the same association \
        (patient root for --patient-id, study root otherwise). --move: C-MOVE to \
        discport's own storage SCP, started for the retrieve on --port as --ae (the \
        node must know that AE title, host and port). Received instances are stored \
        as `discport listen` stores them (one import run; duplicates skipped).

        Exit status: 0 every sub-operation completed; 1 failures, or the node \
        refused or could not be reached; 2 usage error or unknown node.
        """
    )

    @Argument(help: "A node name.")
    var node: String
    @Option(name: .customLong("patient-id"), help: "Every study of this patient.")
    var patientID: String?
    @Option(help: "Study Instance UID.")
    var study: String?
    @Option(help: "Series Instance UID (with --study).")
    var series: String?
    @Flag(help: "C-MOVE to discport's own SCP instead of C-GET.")
    var move = false
    @Option(help: ArgumentHelp("With --move: discport's AE title (the move destination).", valueName: "ae"))
    var ae: String = "DISCPORT"
    @Option(help: "With --move: the port discport receives on (as the node knows it).")
    var port: Int = 11112
    @Option(help: ArgumentHelp("With --move: address to bind.", valueName: "address"))
    var bind: String = "0.0.0.0"
    @Flag(help: "Print a JSON object.")
    var json = false
    @OptionGroup var network: NetworkOptions
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard (patientID != nil) != (study != nil) else { throw ValidationError("give --patient-id or --study") }
        if series != nil && study == nil { throw ValidationError("--series needs --study") }
    }

    func run() throws {
        let catalog = try store.open()
        defer { try? catalog.close() }
        let target = try store.node(node, in: catalog)
        let parameters = network.parameters(for: target)
        var keys: [(tag: Tag, value: String)] = []
        let query: FindQuery
        if let patientID {
            keys.append((.patientID, patientID))
            query = FindQuery(model: .patientRoot, level: .patient, keys: keys)
        } else if let series, let study {
            keys = [(.studyInstanceUID, study), (.seriesInstanceUID, series)]
            query = FindQuery(model: .studyRoot, level: .series, keys: keys)
        } else {
            query = FindQuery(model: .studyRoot, level: .study, keys: [(.studyInstanceUID, study!)])
        }
        let importID = try catalog.beginImport(ImportSource(
            location: "dicom://\(target.aeTitle)@\(target.host):\(target.port)/\(patientID ?? series ?? study ?? "")",
            kind: "network", label: move ? "C-MOVE" : "C-GET"))
        let result: RetrieveResult
        do {
            if let endpoint = try target.endpoint(timeout: network.timeout) {
                result = try wado(endpoint, store: catalog, importID: importID, base: target.url!)
            } else if move {
                let job = ListenJob(store: catalog, configuration: DICOMServer.Configuration(aeTitle: ae, host: bind, port: port))
                let ae = self.ae
                result = try runBlocking {
                    let server = try await job.startServer(importID: importID)
                    do {
                        let result = try await RetrieveSCU.move(query, parameters: parameters, destination: ae)
                        await server.stop()
                        return result
                    } catch {
                        await server.stop()
                        throw error
                    }
                }
            } else {
                let spool = try catalog.temporaryDirectory()
                result = try runBlocking {
                    try await RetrieveSCU.get(query, parameters: parameters, spoolDirectory: spool) { instance in
                        ListenJob.importReceived(instance, store: catalog, importID: importID)
                    }
                }
            }
        } catch {
            _ = try? catalog.finishImport(importID, status: .failed, note: "\(error)")
            throw CLIError("\(node): \(error)", status: 1)
        }
        let record = try catalog.finishImport(importID, status: result.isSuccess ? .completed : .failed,
                                              note: result.errors.first)
        if json {
            try JSONOutput.print(result)
        } else {
            let how = target.isDICOMweb ? "WADO-RS" : (move ? "C-MOVE" : "C-GET")
            print("\(node): \(how) \(result.status): \(result.completed) completed, \(result.failed) failed, \(result.warning) warning; \(record.stored) stored, \(record.duplicates) already in the store")
            for error in result.errors { Terminal.error(error) }
        }
        if !result.isSuccess { throw ExitCode(1) }
    }

    /// WADO-RS for a DICOMweb node: the study (or series), or every study
    /// of the patient found by QIDO-RS; each part stored as it is.
    private func wado(_ endpoint: DICOMwebEndpoint, store: InstanceStore, importID: Int64, base: String) throws -> RetrieveResult {
        if move { throw CLIError("--move is for DIMSE nodes; a DICOMweb node is read with WADO-RS", status: 2) }
        let patientID = self.patientID, study = self.study, series = self.series
        return try runBlocking { () -> RetrieveResult in
            var studies: [String] = study.map { [$0] } ?? []
            if let patientID {
                let data = try await DICOMweb.search(endpoint, resource: "studies", keys: [("PatientID", patientID)])
                let rows = (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
                studies = rows.compactMap { (($0["0020000D"] as? [String: Any])?["Value"] as? [Any])?.first as? String }
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
