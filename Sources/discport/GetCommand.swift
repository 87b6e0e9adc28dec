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
        (patient root for --patient-id, study root otherwise), on an association \
        that names, in SCP role, the storage SOP classes to receive: --sop-class, \
        else those a C-FIND at IMAGE level finds in the selection, else the common \
        set; instances of a class not negotiated fail at the node and are reported \
        with the classes missing. --move: C-MOVE to \
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
    @Option(name: .customLong("sop-class"), help: ArgumentHelp(
        "C-GET: a storage SOP Class UID to receive; repeatable (default: those a C-FIND at IMAGE level finds in the selection, else the common set).",
        valueName: "uid"))
    var sopClasses: [String] = []
    @Flag(help: "Print a JSON object.")
    var json = false
    @OptionGroup var network: NetworkOptions
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard (patientID != nil) != (study != nil) else { throw ValidationError("give --patient-id or --study") }
        if series != nil && study == nil { throw ValidationError("--series needs --study") }
        if move && !sopClasses.isEmpty { throw ValidationError("--sop-class is for C-GET (C-MOVE negotiates nothing for the instances)") }
        if move, let problem = AETitle.problem(ae) { throw ValidationError("--ae: \(problem)") }
        if move, !(1...65535).contains(port) { throw ValidationError("--port: 1–65535") }
        if sopClasses.count > 127 { throw ValidationError("--sop-class: at most 127 (PS3.8: 128 presentation contexts per association)") }
    }

    func run() throws {
        let catalog = try store.open()
        defer { try? catalog.close() }
        let peer = try network.peer(node, in: catalog)
        let selection: RetrieveRequest.Selection = if let patientID { .patient(patientID) }
            else if let series, let study { .series(study: study, series: series) } else { .study(study!) }
        let method: RetrieveRequest.Method = move
            ? .move(DICOMServer.Configuration(aeTitle: ae, host: bind, port: port)) : .get
        let summary = try GetCommand.retrieve(RetrieveRequest(selection, method: method, storageClasses: sopClasses.isEmpty ? nil : sopClasses), from: peer, into: catalog)
        if json {
            Terminal.writeOut(try JSONOutput.data(summary.result) + Data([0x0A]))
        } else {
            GetCommand.report(summary, node: node)
        }
        if !summary.result.isSuccess { throw ExitCode(1) }
    }

    /// Runs the retrieve; CLI errors (2: usage, 1: the node refused or failed).
    static func retrieve(_ request: RetrieveRequest, from peer: RemotePeer, into store: InstanceStore) throws -> RetrieveSummary {
        do {
            return try RetrieveJob(store: store, peer: peer).run(request)
        } catch let error as RemoteNodeError {
            throw CLIError(error.description, status: 2)
        } catch {
            throw CLIError("\(peer.node.name): \(error)", status: 1)
        }
    }

    /// The text report of a retrieve.
    static func report(_ summary: RetrieveSummary, node: String) {
        let result = summary.result
        print("\(node): \(summary.method) \(result.status): \(result.completed) completed, \(result.failed) failed, \(result.warning) warning; \(summary.stored) stored, \(summary.duplicates) already in the store")
        for error in result.errors { Terminal.error(error) }
    }
}
