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
            if move {
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
            print("\(node): \(move ? "C-MOVE" : "C-GET") \(result.status): \(result.completed) completed, \(result.failed) failed, \(result.warning) warning; \(record.stored) stored, \(record.duplicates) already in the store")
            for error in result.errors { Terminal.error(error) }
        }
        if !result.isSuccess { throw ExitCode(1) }
    }
}
